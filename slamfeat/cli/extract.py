"""``slamfeat extract``: keypoints, scores and descriptors of images into features.h5."""

from __future__ import annotations

from ..extract import collect_images, extract_to_h5
from .common import add_device_arg, add_json_arg, add_model_args, extractor_from_args, write_report


def add_parser(sub) -> None:
    p = sub.add_parser("extract", help="extract features of images into an h5 file (hloc layout)",
                       description="Extract keypoints, scores and descriptors into features.h5 (hloc's layout).")
    p.add_argument("images", nargs="+", help="image files and/or folders of images")
    p.add_argument("--out", required=True, help="features.h5 to write")
    p.add_argument("--overwrite", action="store_true", help="re-extract images already in the output")
    add_model_args(p)
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    images = collect_images(args.images)
    extractor = extractor_from_args(args)
    report = extract_to_h5(images, extractor, args.out, overwrite=args.overwrite)
    report = {"model": str(args.model), "out": str(args.out), **report}
    print(f"{report['extracted']} of {report['images']} images extracted with {args.model}: "
          f"{report['keypoints_per_image']:.0f} keypoints/image, {report['ms_per_image']:.1f} ms/image -> {args.out}")
    write_report(args, report)
    return 0
