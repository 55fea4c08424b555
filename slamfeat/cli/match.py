"""``slamfeat match``: batched matching of every listed pair of a features file."""

from __future__ import annotations

import os

from ..distributed import init_from_env
from ..matching import match_h5
from ..matching.h5match import MATCHERS
from .common import add_device_arg, add_json_arg, print_table, write_report


def add_parser(sub) -> None:
    p = sub.add_parser("match", help="match every listed pair of a features.h5 into a matches.h5",
                       description="Batched nearest-neighbour (or LightGlue) matching of every pair of a pairs "
                                   "file; resumable: pairs already in the output are skipped unless --overwrite.")
    p.add_argument("--features", required=True, help="features.h5 (hloc layout)")
    p.add_argument("--pairs", required=True, help="pairs file, one 'name0 name1' a line")
    p.add_argument("--out", required=True, help="matches.h5 to write (hloc layout)")
    p.add_argument("--matcher", default="nn", choices=MATCHERS,
                   help="nn: nearest neighbours (default); lightglue: LightGlue, for disk, aliked-* and xfeat features")
    p.add_argument("--features-model", default=None,
                   help="extractor that made the features; picks LightGlue's weights (disk, aliked-n16 …; default disk)")
    p.add_argument("--no-mutual", dest="mutual", action="store_false", help="nn: no mutual nearest-neighbour check")
    p.add_argument("--ratio", type=float, default=None, help="nn: Lowe's ratio threshold, e.g. 0.8")
    p.add_argument("--distance-threshold", type=float, default=None,
                   help="nn: largest L2 distance (float descriptors) or number of differing bits (binary)")
    p.add_argument("--max-memory-mb", type=float, default=256, help="nn: memory bound of a similarity chunk")
    p.add_argument("--filter-threshold", type=float, default=0.1, help="lightglue: match probability threshold")
    p.add_argument("--batch-size", type=int, default=16, help="pairs matched together (default 16)")
    p.add_argument("--overwrite", action="store_true", help="match pairs already in the output again")
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.matcher == "nn":
        options = {"mutual": args.mutual, "ratio": args.ratio, "distance_threshold": args.distance_threshold,
                   "max_memory_mb": args.max_memory_mb}
    else:
        options = {"filter_threshold": args.filter_threshold}
    init_from_env(args.device)  # under torchrun: join the group, take this rank's GPU
    report = match_h5(args.features, args.pairs, args.out, matcher=args.matcher, overwrite=args.overwrite,
                      batch_size=args.batch_size, device=args.device, features_model=args.features_model, **options)
    if report["processes"] > 1 and int(os.environ.get("RANK", "0")) != 0:
        return 0  # rank 0 speaks for the run
    write_report(args, report)
    print_table([[report["pairs"], report["matched"], report["skipped"], report["pairs_per_s"],
                  report["matches_per_pair"], report["device"]]],
                ["pairs", "matched", "skipped", "pairs/s", "matches/pair", "device"])
    return 0
