"""``slamfeat extract``: keypoints, scores and descriptors of images into features.h5."""

from __future__ import annotations

import os

from ..distributed import init_from_env
from ..extract import collect_images, extract_to_h5
from ..io.outputs import output_file
from .common import add_device_arg, add_json_arg, add_model_args, check_paths, extractor_from_args, write_report


def add_parser(sub) -> None:
    p = sub.add_parser("extract", help="extract features of images into an h5 file (hloc layout)",
                       description="Extract keypoints, scores and descriptors into features.h5 (hloc's layout). "
                                   "Under torchrun each process extracts its share of the images and rank 0 "
                                   "merges them.")
    p.add_argument("images", nargs="+", help="image files and/or folders of images")
    p.add_argument("--out", required=True, help="features.h5 to write")
    p.add_argument("--overwrite", action="store_true", help="re-extract images already in the output")
    p.add_argument("--batch", "--batch-size", dest="batch", type=int, default=1,
                   help="images per network run; images are grouped by size, never padded (default 1)")
    p.add_argument("--workers", type=int, default=2, help="threads that read and decode images ahead (default 2)")
    add_model_args(p)
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    images = collect_images(args.images)
    init_from_env(args.device)  # under torchrun: join the group, take this rank's GPU
    output_file(args.out, "features file")
    check_paths(args, {"features file": args.out}, {"image": [p for _, p in images], "weights file": args.weights})
    extractor = extractor_from_args(args)
    report = extract_to_h5(images, extractor, args.out, overwrite=args.overwrite, batch_size=args.batch,
                           workers=args.workers)
    if report["processes"] > 1 and int(os.environ.get("RANK", "0")) != 0:
        return 0  # rank 0 speaks for the run
    report = {"model": str(args.model), "out": str(args.out), **report}
    print(f"{report['extracted']} of {report['images']} images extracted with {args.model}: "
          f"{report['keypoints_per_image']:.0f} keypoints/image, {report['ms_per_image']:.1f} ms/image -> {args.out}")
    write_report(args, report)
    return 0
