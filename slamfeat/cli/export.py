"""``slamfeat export``: a student as an ONNX or TorchScript file, or as a slim checkpoint."""

from __future__ import annotations

from ..io.outputs import output_file
from .common import add_json_arg, add_model_args, check_paths, model_conf, write_report


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a student as ONNX or TorchScript",
                       description="Export a student's whole extraction (network, NMS, top-k, descriptors) for "
                                   "one fixed image size. Input: 1×C×H×W float image in [0, 1] (C = 1, gray); "
                                   "outputs: keypoints N×2, scores N, descriptors N×D.")
    add_model_args(p)
    p.add_argument("--format", required=True, choices=["onnx", "torchscript", "checkpoint"],
                   help="file format; checkpoint: a student .pt without training state, with the extractor "
                        "options given here (e.g. --detection-threshold) saved as its defaults")
    p.add_argument("--out", required=True, help="file to write (.onnx or .pt)")
    p.add_argument("--resolution", type=int, nargs=2, default=[480, 640], metavar=("H", "W"),
                   help="image size the exported model takes (default 480 640)")
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..export import export_student, load_student_for_export, ship_student

    output_file(args.out, "exported model")
    check_paths(args, {"exported model": args.out}, {"weights file": args.weights, "model": args.model})

    if args.format == "checkpoint":
        conf = model_conf(args)
        path = ship_student(args.model, args.out, args.weights, **conf)
        size = path.stat().st_size
        print(f"{args.model} -> {path} (checkpoint, {size / 1e6:.2f} MB)")
        write_report(args, {"model": str(args.model), "format": "checkpoint", "out": str(path), "conf": conf,
                            "bytes": size})
        return 0
    student = load_student_for_export(args.model, args.weights, **model_conf(args))
    path = export_student(student, args.format, args.out, tuple(args.resolution))
    report = {"model": str(args.model), "format": args.format, "out": str(path), "resolution": list(args.resolution),
              "params": student.num_parameters(), "descriptor_dim": student.descriptor_dim,
              "bytes": path.stat().st_size}
    print(f"{args.model} -> {path} ({args.format}, {args.resolution[0]}×{args.resolution[1]}, "
          f"{report['bytes'] / 1e6:.2f} MB)")
    write_report(args, report)
    return 0
