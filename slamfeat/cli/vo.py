"""``slamfeat vo``: monocular visual odometry on a video, an image folder, an AirSim or TUM recording."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io.outputs import output_folder
from .common import (add_device_arg, add_json_arg, add_matcher_args, add_model_args, check_paths, describe_matcher,
                     extractor_from_args, matcher_config, print_table, write_report)

VO_MAX_KEYPOINTS = 1024  # enough for tracking, few enough for speed


def add_vo_args(p: argparse.ArgumentParser, default_out: str) -> None:
    """Every option of a VO run (shared by ``slamfeat vo`` and ``slamfeat demo``)."""
    p.add_argument("--out", default=default_out, help=f"output folder (default {default_out})")
    p.add_argument("--calib", default=None, metavar="fx,fy,cx,cy[,k1,k2,p1,p2]",
                   help="pinhole intrinsics in pixels, optionally OpenCV distortion")
    p.add_argument("--fov", type=float, default=None, help="horizontal field of view in degrees (instead of --calib)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate that timestamps an image folder (default 30)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--no-video", action="store_true", help="do not write the video of tracked matches")
    p.add_argument("--show", action="store_true", help="open a live view of the tracked matches")
    add_model_args(p)
    add_matcher_args(p)
    p.add_argument("--fallback-matcher", default="auto", choices=["auto", "none", "nn", "lightglue"],
                   help="tried on a frame the --matcher cannot track before it counts as lost, and on the links "
                        "across lost frames: nn's speed on most frames, LightGlue's robustness on fast turns. auto "
                        "(the default): the features' LightGlue behind --matcher nn when they have one (the "
                        "students, aliked, disk, xfeat), else none")
    p.add_argument("--local-map", type=int, default=0, metavar="N",
                   help="after tracking, find the points of the last N keyframes again by projection and refine the "
                        "pose on them (0: off, the default; 5 helps LightGlue, see docs/vo.md)")
    add_device_arg(p)
    add_json_arg(p)


def fallback_config(args: argparse.Namespace):
    """The fallback of ``--fallback-matcher``: a :class:`slamfeat.matching.MatcherConfig` (the matching flags
    apply to it as to ``--matcher``), ``"auto"`` (resolved by the front end for the features) or None."""
    from ..errors import BadInput
    from ..vo.config import AUTO

    if args.fallback_matcher == "none":
        return None
    if args.fallback_matcher == "auto":
        return AUTO
    if args.fallback_matcher == args.matcher:
        raise BadInput(f"fallback matcher {args.fallback_matcher!r} is the matcher itself; name the other one",
                       option="fallback_matcher")
    return matcher_config(argparse.Namespace(**{**vars(args), "matcher": args.fallback_matcher}))


def add_parser(sub) -> None:
    p = sub.add_parser("vo", help="monocular visual odometry (default: the embedded sequence)",
                       description="Monocular visual odometry. SOURCE is a video file, an image folder, an AirSim "
                                   "recording or a TUM RGB-D folder; without SOURCE the embedded default sequence "
                                   "is rendered (once) and used. Writes trajectory.txt (TUM), trajectory.png, "
                                   "matches.mp4, map.ply and report.json into --out.")
    p.add_argument("source", nargs="?", default=None, help="video, image folder, AirSim recording or TUM RGB-D folder")
    add_vo_args(p, "out/vo")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..vo import choose_camera, open_source, run_vo
    from ..vo.config import VOConfig
    from ..vo.default import default_sequence
    from ..vo.run import VO_FILES

    written = {"output folder": args.out, **{f"run's {name}": Path(args.out) / name for name in VO_FILES}}
    check_paths(args, written, {"source": args.source, "weights file": args.weights})
    output_folder(args.out, "VO output folder", create=False)
    config = VOConfig(matcher=matcher_config(args), fallback_matcher=fallback_config(args),
                      local_map_keyframes=args.local_map)
    if args.source is None:
        print("source: the embedded default sequence (rendered once, then cached)")
    path = Path(args.source) if args.source is not None else default_sequence()
    source = open_source(path, fps=args.fps)
    camera = choose_camera(source, args.calib, args.fov)
    overrides = {} if args.max_keypoints is not None else {"max_keypoints": VO_MAX_KEYPOINTS}
    extractor = extractor_from_args(args, **overrides)
    report, outputs = run_vo(source, extractor, camera, args.out, config, max_frames=args.max_frames,
                             draw=not args.no_video, show=args.show, model_name=str(args.model))
    if camera.origin == "guess":
        print(f"intrinsics: none given, guessed fx = fy = {camera.K[0, 0]:.1f} px (give --calib or --fov)")
    keys = ["frames", "tracked_frames", "keyframes", "fps", "trajectory_length", "ate_rmse", "ate_rmse_rel",
            "rpe_trans", "rpe_rot_deg"]
    rows = [[k, report[k]] for k in keys if k in report] + [["matcher", describe_matcher(report["matcher"])]]
    if "fallback_matcher" in report:
        rows.append(["fallback", f"{describe_matcher(report['fallback_matcher'])}: {report['fallback_frames']} frames"])
    if report.get("bridged_frames"):
        rows.append(["bridged", f"{report['bridged_frames']} lost frames chained, "
                                f"{report['bridged_reinitialisations']} new maps started there"])
    print_table(rows, ["vo " + str(args.model), Path(source.name).name])
    for what, where in (("trajectory", outputs.trajectory), ("plot", outputs.plot), ("matches video", outputs.video),
                        ("map", outputs.map), ("report", outputs.report)):
        if where is not None:
            print(f"{what:>14}: {where}")
    write_report(args, report)
    return 0
