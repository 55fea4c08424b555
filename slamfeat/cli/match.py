"""``slamfeat match``: batched matching of every listed pair of a features file."""

from __future__ import annotations

import os

from ..distributed import init_from_env
from ..matching import match_h5
from .common import (add_device_arg, add_json_arg, add_matcher_args, check_paths, describe_matcher, matcher_config,
                     print_table, write_report)


def add_parser(sub) -> None:
    p = sub.add_parser("match", help="match every listed pair of a features.h5 into a matches.h5",
                       description="Batched nearest-neighbour (or LightGlue) matching of every pair of a pairs "
                                   "file; resumable: pairs already in the output are skipped unless --overwrite.")
    p.add_argument("--features", required=True, help="features.h5 (hloc layout)")
    p.add_argument("--pairs", required=True, help="pairs file, one 'name0 name1' a line")
    p.add_argument("--out", required=True, help="matches.h5 to write (hloc layout)")
    add_matcher_args(p)
    p.add_argument("--features-model", default=None,
                   help="extractor (name or checkpoint PATH.pt) that made the features: picks the nn defaults (sift: "
                        "ratio 0.8) and LightGlue's weights (a student's: its teacher's; unknown: disk's)")
    p.add_argument("--max-memory-mb", type=float, default=256, help="nn: memory bound of a similarity chunk")
    p.add_argument("--batch-size", type=int, default=16, help="pairs matched together (default 16)")
    p.add_argument("--overwrite", action="store_true", help="match pairs already in the output again")
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_paths(args, {"matches file": args.out}, {"features file": args.features, "pairs file": args.pairs})
    init_from_env(args.device)  # under torchrun: join the group, take this rank's GPU
    report = match_h5(args.features, args.pairs, args.out, matcher=matcher_config(args), overwrite=args.overwrite,
                      batch_size=args.batch_size, device=args.device, features_model=args.features_model)
    if report["processes"] > 1 and int(os.environ.get("RANK", "0")) != 0:
        return 0  # rank 0 speaks for the run
    write_report(args, report)
    print_table([[report["pairs"], report["matched"], report["skipped"], report["pairs_per_s"],
                  report["matches_per_pair"], report["device"]]],
                ["pairs", "matched", "skipped", "pairs/s", "matches/pair", "device"])
    print(f"matcher: {describe_matcher(report['options'])}")
    return 0
