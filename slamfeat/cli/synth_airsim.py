"""``slamfeat synth airsim``: render a drone flight over a textured town as an AirSim recording."""

from __future__ import annotations

import argparse
import time

from ..errors import BadInput
from ..synth.airsim import PRESETS, render_sequence


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` → ``(W, H)``."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BadInput(f"--size {text}: expected WxH, e.g. 640x480") from None
    return w, h


def add_parser(sub) -> None:
    p = sub.add_parser("airsim", help="render an AirSim-format recording with ground-truth poses and depth",
                       description="Ray-cast a drone flight over a textured 3-D town (open3d) and write it as an "
                                   "AirSim recording: airsim_rec.txt, images/ (PNG scene, PFM planar depth), "
                                   "settings.json and a TUM ground-truth trajectory groundtruth.txt.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--frames", type=int, default=200, help="number of frames (default 200)")
    p.add_argument("--seed", type=int, default=0, help="random seed of scene and flight (default 0)")
    p.add_argument("--size", default="640x480", help="image size WxH (default 640x480)")
    p.add_argument("--fov", type=float, default=90.0, help="horizontal field of view in degrees (default 90)")
    p.add_argument("--preset", default="default", choices=list(PRESETS),
                   help="default, or hard: faster motion, low-texture surfaces, changing light")
    p.add_argument("--speed", type=float, default=None, help="metres per frame (default: 0.35, hard 0.9)")
    p.add_argument("--low-texture", type=float, default=None, metavar="FRACTION",
                   help="fraction of textures blurred and flattened (default: 0, hard 0.5)")
    p.add_argument("--light-change", action=argparse.BooleanOptionalAction, default=None,
                   help="sun and exposure change over the flight (default: off, hard on)")
    p.add_argument("--pairs-out", default=None, metavar="FILE",
                   help="also write frame pairs with intrinsics and relative poses (SuperGlue format)")
    p.set_defaults(func=run)


def run(args) -> int:
    size = parse_size(args.size)
    t0 = time.perf_counter()
    out = render_sequence(args.out, frames=args.frames, seed=args.seed, size=size, fov_deg=args.fov,
                          preset=args.preset, pairs_out=args.pairs_out, speed=args.speed,
                          low_texture=args.low_texture, light_change=args.light_change)
    print(f"{args.frames} frames of {size[0]}x{size[1]} ({args.preset}, seed {args.seed}) rendered in "
          f"{time.perf_counter() - t0:.1f} s -> {out}/airsim_rec.txt"
          + (f", pairs -> {args.pairs_out}" if args.pairs_out else ""))
    return 0
