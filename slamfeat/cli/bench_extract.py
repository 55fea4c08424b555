"""``slamfeat bench extract``: milliseconds per image of extractors, side by side in one run."""

from __future__ import annotations

from .common import add_device_arg, add_json_arg, check_paths, print_table, write_report


def add_parser(sub) -> None:
    from ..bench.extract import DEFAULT_MODELS

    p = sub.add_parser("extract", help="extraction speed of several models side by side",
                       description="Time feature extraction of each model on the same photograph "
                                   "(interleaved rounds, median); students also through ONNX Runtime when installed.")
    p.add_argument("--model", action="append", default=None,
                   help=f"model name or student PATH.pt; repeat for several (default {' '.join(DEFAULT_MODELS)})")
    p.add_argument("--resolution", type=int, nargs=2, default=[480, 640], metavar=("H", "W"),
                   help="image size (default 480 640)")
    p.add_argument("--runs", type=int, default=5, help="timed rounds (default 5)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's)")
    p.add_argument("--max-keypoints", type=int, default=2048, help="keypoints per image (default 2048)")
    p.add_argument("--batch", type=int, default=1,
                   help="images per network call; ms/image is the call's time over the batch (default 1)")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime timing of students")
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_paths(args, {})
    from ..bench.extract import DEFAULT_MODELS, bench_extract
    from ..errors import BadInput
    from ..progress import progress

    if min(args.resolution) < 16:
        raise BadInput(f"--resolution {args.resolution[0]} {args.resolution[1]}: at least 16 px a side")
    report = bench_extract(args.model or DEFAULT_MODELS, tuple(args.resolution), args.runs, args.device,
                           args.threads, args.max_keypoints, onnx=not args.no_onnx, progress=progress, batch=args.batch)
    rows = [[k, v["ms_per_image"], v["images_per_s"], v["params"]] for k, v in report["results"].items()]
    print(f"{report['resolution'][0]}×{report['resolution'][1]}, {report['device']}, {report['threads']} threads, "
          f"batch {report['batch']}")
    print_table(rows, ["model", "ms/image", "images/s", "params"])
    write_report(args, report)
    return 0
