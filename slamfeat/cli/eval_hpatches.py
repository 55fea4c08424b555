"""``slamfeat eval hpatches``: HPatches-protocol evaluation of one or more extractors."""

from __future__ import annotations

from ..eval.hpatches import HPatchesEvalConfig, companion_paths, evaluate, plot_mma, write_sequence_csv
from ..features import DEFAULT_MODEL
from ..progress import progress
from .common import (add_device_arg, add_json_arg, add_matcher_args, add_scales_arg, check_paths, describe_matcher,
                     matcher_config, names_of, print_table, write_report)

_DEFAULTS = HPatchesEvalConfig()


def add_parser(sub) -> None:
    p = sub.add_parser("hpatches", help="HPatches-protocol evaluation (MMA, homography accuracy, repeatability, MRS)",
                       description="Evaluate extractors on an HPatches-format folder (pairs (1, k), k = 2…6, matched by "
                                   "--matcher, mutual nearest neighbours by default). Without --root a synthetic set is made in a temporary "
                                   "folder and evaluated. With --json R, R_mma.png and R_sequences.csv go beside R.")
    p.add_argument("--root", default=None, help="the hpatches-sequences-release folder (default: a synthetic set)")
    p.add_argument("--model", action="append", default=None,
                   help=f"extractor name or student checkpoint PATH.pt; repeat for several (default {DEFAULT_MODEL})")
    p.add_argument("--max-size", type=int, default=_DEFAULTS.max_size,
                   help=f"shrink images so the longest side is this many px (default {_DEFAULTS.max_size})")
    p.add_argument("--max-keypoints", type=int, default=_DEFAULTS.max_keypoints,
                   help=f"best-scored keypoints kept per image (default {_DEFAULTS.max_keypoints})")
    p.add_argument("--ransac-threshold", type=float, default=_DEFAULTS.ransac_threshold,
                   help=f"RANSAC inlier threshold for the homography, px (default {_DEFAULTS.ransac_threshold:g})")
    p.add_argument("--include-large", action="store_true",
                   help="keep the eight sequences of very large images that D2-Net's protocol leaves out")
    p.add_argument("--sequences", type=int, default=None,
                   help="evaluate only N sequences, i_* and v_* alternately (synthetic set: make N; default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic set (default 0)")
    add_scales_arg(p)
    add_matcher_args(p)
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import BadInput
    from ..synth.hpatches import SynthHPatchesConfig

    if args.sequences is not None and args.sequences < 1:
        raise BadInput(f"--sequences {args.sequences}: must be at least 1")
    if args.json:
        png, csv = companion_paths(args.json)
        check_paths(args, {"MMA plot": png, "sequence table": csv})
    config = HPatchesEvalConfig(max_size=args.max_size, max_keypoints=args.max_keypoints, scales=args.scales,
                                ransac_threshold=args.ransac_threshold, exclude_large=not args.include_large,
                                sequences=args.sequences if args.root else None, device=args.device,
                                matcher=matcher_config(args))
    synth = None if args.root else SynthHPatchesConfig(seed=args.seed, sequences=args.sequences or 16,
                                                       max_size=args.max_size)
    report = evaluate(args.root, names_of(args.model, DEFAULT_MODEL), config, synth=synth, progress=progress)
    rows = [[label, r["mma"]["1"], r["mma"]["3"], r["mma"]["5"], r["mma"]["10"], r["homography_accuracy"]["3"],
             r["repeatability"]["3"], r["matching_score"]["3"], r["mrs"], r["keypoints_per_image"],
             r["matches_per_pair"], r["ms_per_image"], describe_matcher(r["matcher"])]
            for label, r in report["results"].items()]
    d = report["dataset"]
    print(f"{d['sequences']} sequences ({d['sequences_i']} i, {d['sequences_v']} v), {d['pairs']} pairs"
          f"{' (synthetic)' if d['synthetic'] else ''}")
    print_table(rows, ["model", "MMA@1", "MMA@3", "MMA@5", "MMA@10", "H@3", "rep@3", "MS@3", "MRS@3",
                       "kpts", "matches", "ms/img", "matcher"])
    if args.json:
        png, csv = companion_paths(args.json)
        plot_mma(png, report["results"])
        write_sequence_csv(csv, report["sequences"])
        write_report(args, report)
        print(f"-> {args.json}, {png}, {csv}")
    return 0
