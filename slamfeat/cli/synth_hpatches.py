"""``slamfeat synth hpatches``: an HPatches-format set made from scikit-image's photographs."""

from __future__ import annotations

from ..progress import progress
from ..synth.hpatches import SynthHPatchesConfig, make_hpatches
from .common import add_json_arg, write_report


def add_parser(sub) -> None:
    p = sub.add_parser("hpatches", help="make an HPatches-format dataset (i_* and v_* sequences)",
                       description="Make an HPatches-format dataset from the photographs that ship with "
                                   "scikit-image: i_* sequences with photometric change, v_* sequences with "
                                   "homographies of growing strength, and the true H_1_k beside them.")
    p.add_argument("--out", required=True, help="folder to write the sequences into")
    p.add_argument("--seed", type=int, default=0, help="random seed; a seed always gives the same set (default 0)")
    p.add_argument("--sequences", type=int, default=16, help="number of sequences, i_* and v_* alternately (default 16)")
    p.add_argument("--max-size", type=int, default=640, help="image width in px; images are 4:3 landscape (default 640)")
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    config = SynthHPatchesConfig(seed=args.seed, sequences=args.sequences, max_size=args.max_size)
    report = make_hpatches(args.out, config, progress=progress)
    w, h = report["image_size"]
    print(f"{report['sequences']} sequences ({report['i']} i_*, {report['v']} v_*) of {w}×{h} images -> {args.out}")
    write_report(args, report)
    return 0
