"""``slamfeat synth hpatches``: an HPatches-format set made from scikit-image's photographs or a folder of photographs."""

from __future__ import annotations

import math

from ..errors import BadInput
from ..progress import progress
from ..synth.hpatches import SEQUENCE_KINDS, SynthHPatchesConfig, make_hpatches
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
    p.add_argument("--kind", choices=SEQUENCE_KINDS, default="iv",
                   help="sequences made: i_* and v_* alternately (iv, default), only photometric (i) or only "
                        "viewpoint (v)")
    p.add_argument("--max-zoom", type=float, default=None,
                   help="zoom of the viewpoint sequences at image 6, in or out by this factor, 1 to 4 (default "
                        "1.6); 2.5 makes HPatches-like scale sequences")
    p.add_argument("--zoom-in", action="store_true",
                   help="viewpoint sequences always zoom in (by default half zoom out, showing the photograph's "
                        "reflected border when the zoom is large)")
    p.add_argument("--max-rotation", type=float, default=None,
                   help="in-plane rotation of the viewpoint sequences at image 6, degrees (default 35)")
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    sequences = args.sequences if args.sequences is not None or args.images else 16
    extra = {}
    if args.max_zoom is not None:
        if not 1 <= args.max_zoom <= 4:  # NaN fails too; checked here, before the logarithm
            raise BadInput(f"max zoom {args.max_zoom:g}: expected 1 to 4", option="max_zoom")
        extra["max_log_scale"] = math.log(args.max_zoom)
    if args.max_rotation is not None:
        extra["max_rotation_deg"] = args.max_rotation
    config = SynthHPatchesConfig(seed=args.seed, sequences=sequences, max_size=args.max_size, images=args.images,
                                 kinds=args.kind, zoom_in=args.zoom_in, **extra)
    report = make_hpatches(args.out, config, progress=progress)
    w, h = report["image_size"]
    source = f" from {args.images}" if args.images else ""
    print(f"{report['sequences']} sequences ({report['i']} i_*, {report['v']} v_*) of {w}×{h} images{source} -> {args.out}")
    write_report(args, report)
    return 0
