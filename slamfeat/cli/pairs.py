"""``slamfeat pairs``: an image-pair list for a folder of images."""

from __future__ import annotations

from ..io import list_images, write_text_atomic
from ..io.outputs import check_distinct, output_file
from ..io.pairs import format_pairs, pairs_from_mode


def add_parser(sub) -> None:
    p = sub.add_parser("pairs", help="write an image-pair list (exhaustive or sequential:K)",
                       description="Write an image-pair list, one 'name0 name1' a line.")
    p.add_argument("images_dir", help="folder of images")
    p.add_argument("--mode", default="exhaustive", help="exhaustive | sequential:K (default exhaustive)")
    p.add_argument("--out", required=True, help="pairs file to write")
    p.set_defaults(func=run)


def run(args) -> int:
    images = list_images(args.images_dir)
    names = [p.name for p in images]
    output_file(args.out, "pairs file")
    check_distinct({"pairs file": args.out}, {"image": images})
    pairs = pairs_from_mode(names, args.mode)
    write_text_atomic(args.out, format_pairs(pairs))
    print(f"{len(pairs)} pairs of {len(names)} images -> {args.out}")
    return 0
