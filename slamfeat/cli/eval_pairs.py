"""``slamfeat eval pairs``: relative-pose evaluation on image pairs with known intrinsics and pose."""

from __future__ import annotations

from ..eval.pairs import PairsEvalConfig, evaluate
from ..features import DEFAULT_MODEL
from ..progress import progress
from .common import (add_device_arg, add_evaluated_models_args, add_json_arg, add_matcher_args, check_paths,
                     describe_matcher, matcher_config, names_of, print_table, write_report)

_DEFAULTS = PairsEvalConfig()


def add_parser(sub) -> None:
    p = sub.add_parser("pairs", help="relative-pose evaluation on pairs with known intrinsics and pose (SuperGlue format)",
                       description="Image pairs listed as `name0 name1 rot0 rot1 K0(9) K1(9) T_0to1(16)` (the format of "
                                   "SuperGlue's evaluation files; names relative to --images): pose AUC at 5/10/20 "
                                   "degrees from the essential matrix of the --matcher's matches (mutual nearest neighbours by default), match "
                                   "precision (epipolar error under 5e-4 in normalised coordinates), matches per pair.")
    p.add_argument("--pairs", required=True, help="pairs file")
    p.add_argument("--images", required=True, help="folder the image names are relative to")
    add_evaluated_models_args(p, _DEFAULTS.max_keypoints)
    p.add_argument("--ransac-threshold", type=float, default=_DEFAULTS.ransac_threshold,
                   help=f"essential-matrix inlier threshold in px (default {_DEFAULTS.ransac_threshold:g})")
    p.add_argument("--estimator", default=_DEFAULTS.estimator, choices=["usac", "ransac"],
                   help="essential-matrix estimator: usac (OpenCV USAC_ACCURATE, default) or ransac (plain, SuperGlue's)")
    p.add_argument("--epipolar-threshold", type=float, default=_DEFAULTS.epipolar_threshold,
                   help="squared symmetric epipolar distance (normalised) under which a match is correct (default 5e-4)")
    add_matcher_args(p)
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_paths(args, {}, {"pairs file": args.pairs})
    config = PairsEvalConfig(max_keypoints=args.max_keypoints, scales=args.scales, ransac_threshold=args.ransac_threshold,
                             estimator=args.estimator, epipolar_threshold=args.epipolar_threshold,
                             resize_max=args.resize_max, device=args.device, matcher=matcher_config(args))
    conf = {"weights": args.weights} if args.weights else {}
    report = evaluate(args.pairs, args.images, names_of(args.model, DEFAULT_MODEL), config, progress=progress, **conf)
    rows = [[m, r["pose_auc"]["5"], r["pose_auc"]["10"], r["pose_auc"]["20"], r["precision"], r["matches_per_pair"],
             r["keypoints_per_image"], r["pairs"], describe_matcher(r["matcher"])] for m, r in report["results"].items()]
    print_table(rows, ["model", "AUC@5", "AUC@10", "AUC@20", "precision", "matches", "kpts", "pairs", "matcher"])
    write_report(args, report)
    return 0
