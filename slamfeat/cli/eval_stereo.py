"""``slamfeat eval stereo``: real images with ground truth — the Middlebury stereo pair of scikit-image."""

from __future__ import annotations

from ..eval.stereo import StereoEvalConfig, evaluate
from ..features import DEFAULT_MODEL
from ..progress import progress
from .common import (add_device_arg, add_evaluated_models_args, add_json_arg, check_paths, names_of, print_table,
                     write_report)

_DEFAULTS = StereoEvalConfig()


def add_parser(sub) -> None:
    p = sub.add_parser("stereo", help="real-image evaluation on the Middlebury stereo pair with ground-truth disparity",
                       description="Match the rectified Middlebury 2014 'Motorcycle' pair that ships with scikit-image "
                                   "(741×500, real photographs) and check every match against the ground-truth "
                                   "disparity: a match is correct within t px of the left keypoint shifted by its "
                                   "disparity. Reports precision at 1/3/5 px, matches, keypoints, repeatability and "
                                   "matching score (left to right, at --threshold px).")
    add_evaluated_models_args(p, _DEFAULTS.max_keypoints)
    p.add_argument("--threshold", type=float, default=_DEFAULTS.repeatability_threshold,
                   help=f"px, for repeatability and matching score (default {_DEFAULTS.repeatability_threshold:g})")
    p.add_argument("--matcher", default="nn", choices=["nn", "lightglue"],
                   help="nn: mutual nearest neighbour (default); lightglue: the model's LightGlue (disk, aliked-*, xfeat)")
    p.add_argument("--ratio", type=float, default=None, help="nn: Lowe's ratio test, in (0, 1]")
    p.add_argument("--distance-threshold", type=float, default=None, help="nn: largest descriptor distance of a match")
    p.add_argument("--filter-threshold", type=float, default=_DEFAULTS.filter_threshold,
                   help="lightglue: match probability threshold")
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_paths(args, {})
    config = StereoEvalConfig(max_keypoints=args.max_keypoints, scales=args.scales, repeatability_threshold=args.threshold,
                              matcher=args.matcher, ratio=args.ratio, distance_threshold=args.distance_threshold,
                              filter_threshold=args.filter_threshold, resize_max=args.resize_max, device=args.device)
    conf = {"weights": args.weights} if args.weights else {}
    report = evaluate(names_of(args.model, DEFAULT_MODEL), config, progress=progress, **conf)
    t = f"{args.threshold:g}"
    rows = [[m, r["precision"]["1"], r["precision"]["3"], r["precision"]["5"], r["matches_per_pair"],
             r["matches_with_ground_truth"], r["keypoints_per_image"], r["repeatability"][t], r["matching_score"][t],
             r["ms_per_image"]] for m, r in report["results"].items()]
    print(f"{report['dataset']['pairs'][0]} ({report['settings']['matcher']})")
    print_table(rows, ["model", "P@1", "P@3", "P@5", "matches", "with GT", "kpts", f"rep@{t}", f"MS@{t}", "ms/img"])
    write_report(args, report)
    return 0
