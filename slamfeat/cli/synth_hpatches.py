"""``slamfeat synth hpatches``: an HPatches-format set made from scikit-image's photographs or a folder of photographs."""

from __future__ import annotations

from ..progress import progress
from ..synth.hpatches import SynthHPatchesConfig, make_hpatches
from .common import add_json_arg, write_report


def add_parser(sub) -> None:
    p = sub.add_parser("hpatches", help="make an HPatches-format dataset (i_* and v_* sequences)",
                       description="Make an HPatches-format dataset from the photographs that ship with "
                                   "scikit-image, or from your own (--images DIR): i_* sequences with photometric "
                                   "change, v_* sequences with homographies of growing strength, and the true "
                                   "H_1_k beside them.")
    p.add_argument("--out", required=True, help="folder to write the sequences into")
    p.add_argument("--images", default=None,
                   help="folder of photographs to build the sequences from, one sequence per photograph in name "
                        "order (default: scikit-image's photographs)")
    p.add_argument("--seed", type=int, default=0, help="random seed; a seed always gives the same set (default 0)")
    p.add_argument("--sequences", type=int, default=None,
                   help="number of sequences, i_* and v_* alternately (default 16, or one per photograph of --images)")
    p.add_argument("--max-size", type=int, default=640, help="image width in px; images are 4:3 landscape (default 640)")
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    sequences = args.sequences if args.sequences is not None or args.images else 16
    config = SynthHPatchesConfig(seed=args.seed, sequences=sequences, max_size=args.max_size, images=args.images)
    report = make_hpatches(args.out, config, progress=progress)
    w, h = report["image_size"]
    source = f" from {args.images}" if args.images else ""
    print(f"{report['sequences']} sequences ({report['i']} i_*, {report['v']} v_*) of {w}×{h} images{source} -> {args.out}")
    write_report(args, report)
    return 0
