"""``slamfeat eval airsim``: detection, matching and relative-pose scores on an AirSim recording."""

from __future__ import annotations

from ..errors import BadInput
from ..eval.airsim import AirSimEvalConfig, evaluate
from ..features import DEFAULT_MODEL
from ..progress import progress
from .common import (add_device_arg, add_json_arg, add_matcher_args, add_scales_arg, check_paths, describe_matcher,
                     matcher_config, names_of, print_table, write_report)

_DEFAULTS = AirSimEvalConfig()


def parse_ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise BadInput(f"{flag} {text}: expected comma-separated integers, e.g. 1,5,10") from None
    if not values or min(values) < 1:
        raise BadInput(f"{flag} {text}: expected positive integers")
    return values


def add_parser(sub) -> None:
    p = sub.add_parser("airsim", help="evaluate on an AirSim recording with ground-truth depth and poses",
                       description="Frame pairs at several gaps of an AirSim recording (e.g. from `slamfeat synth "
                                   "airsim`): keypoints carried with the true depth and pose (occlusions removed by a "
                                   "depth check); repeatability, matching score and MRS at --threshold px with "
                                   "mutual-nearest-neighbour matches; relative pose from the essential matrix, AUC at "
                                   "5/10/20 degrees.")
    p.add_argument("--root", required=True, help="recording folder (airsim_rec.txt + images/)")
    p.add_argument("--model", action="append", default=None,
                   help=f"extractor name or student checkpoint PATH.pt; repeat for several (default {DEFAULT_MODEL})")
    p.add_argument("--weights", default=None, help="weights file for the model (superpoint needs one)")
    p.add_argument("--gaps", default=",".join(map(str, _DEFAULTS.gaps)), help="frame gaps of the pairs (default 1,5,10)")
    p.add_argument("--stride", type=int, default=_DEFAULTS.stride, help=f"every Nth frame starts pairs (default {_DEFAULTS.stride})")
    p.add_argument("--max-pairs", type=int, default=None, help="at most this many pairs per gap")
    p.add_argument("--max-keypoints", type=int, default=_DEFAULTS.max_keypoints,
                   help=f"best-scored keypoints kept per image (default {_DEFAULTS.max_keypoints})")
    p.add_argument("--threshold", type=float, default=_DEFAULTS.threshold, help="pixel threshold of the scores (default 3)")
    p.add_argument("--ransac-threshold", type=float, default=_DEFAULTS.ransac_threshold,
                   help=f"essential-matrix RANSAC threshold in px (default {_DEFAULTS.ransac_threshold:g})")
    p.add_argument("--estimator", default=_DEFAULTS.estimator, choices=["usac", "ransac"],
                   help="essential-matrix estimator: usac (OpenCV USAC_ACCURATE, default) or ransac (plain, SuperGlue's)")
    p.add_argument("--fov", type=float, default=None, help="horizontal field of view in degrees (default: settings.json or 90)")
    add_scales_arg(p)
    add_matcher_args(p)
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_paths(args, {})
    if args.stride < 1 or (args.max_pairs is not None and args.max_pairs < 1) or args.threshold <= 0:
        raise BadInput("--stride and --max-pairs must be at least 1, --threshold positive")
    config = AirSimEvalConfig(gaps=parse_ints(args.gaps, "--gaps"), stride=args.stride, max_pairs=args.max_pairs,
                              threshold=args.threshold, max_keypoints=args.max_keypoints, scales=args.scales,
                              ransac_threshold=args.ransac_threshold, estimator=args.estimator, fov_deg=args.fov, device=args.device,
                              matcher=matcher_config(args))
    conf = {"weights": args.weights} if args.weights else {}
    report = evaluate(args.root, names_of(args.model, DEFAULT_MODEL), config, progress=progress, **conf)
    key = f"{config.threshold:g}"
    rows = [[m, r["repeatability"][key], r["matching_score"][key], r["mrs"], r["pose_auc"]["5"], r["pose_auc"]["10"],
             r["pose_auc"]["20"], r["keypoints_per_image"], r["matches_per_pair"], r["pairs"], describe_matcher(r["matcher"])]
            for m, r in report["results"].items()]
    print(f"{report['dataset']['frames']} frames, gaps {','.join(map(str, config.gaps))}")
    print_table(rows, ["model", f"rep@{key}", f"MS@{key}", f"MRS@{key}", "AUC@5", "AUC@10", "AUC@20", "kpts",
                       "matches", "pairs", "matcher"])
    write_report(args, report)
    return 0
