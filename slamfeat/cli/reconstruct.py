"""``slamfeat reconstruct``: features → matches → COLMAP database → pycolmap mapping."""

from __future__ import annotations

import pycolmap

from ..reconstruction import ReconstructionConfig, reconstruct
from ..reconstruction.mapping import MAPPERS
from .common import (add_device_arg, add_json_arg, add_matcher_args, add_model_args, check_paths, describe_matcher,
                     matcher_config, model_conf, print_table, write_report)


def add_parser(sub) -> None:
    p = sub.add_parser("reconstruct", help="3-D reconstruction of an image folder with pycolmap",
                       description="Extract features, match image pairs, write a COLMAP database and run "
                                   "pycolmap's mapper; the largest model is saved in OUT/model (COLMAP format) "
                                   "and OUT/points.ply. Files in OUT are reused by a second run.")
    p.add_argument("images_dir", metavar="IMAGES_DIR",
                   help="folder of images, or an AirSim recording (then the poses are compared with the truth)")
    p.add_argument("--out", required=True, help="output folder (features.h5, matches.h5, database.db, model/, points.ply)")
    p.add_argument("--pairs", default="exhaustive", help="exhaustive | sequential:K | a pairs FILE (default exhaustive)")
    p.add_argument("--camera-model", default="SIMPLE_RADIAL", help="COLMAP camera model (default SIMPLE_RADIAL)")
    p.add_argument("--camera-params", default="", help="known camera parameters, COLMAP's comma-separated list")
    p.add_argument("--single-camera", action="store_true", help="all images share one camera")
    p.add_argument("--mapper", default="incremental", choices=MAPPERS, help="pycolmap mapper (default incremental)")
    p.add_argument("--compare-sift", action="store_true", help="also run pycolmap's own SIFT pipeline, side by side")
    p.add_argument("--seed", type=int, default=0, help="random seed of the mapper")
    p.add_argument("--overwrite", action="store_true", help="recompute the files an earlier run left in --out")
    p.add_argument("--verbose", action="store_true", help="show COLMAP's log")
    add_model_args(p)
    add_matcher_args(p)
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_paths(args, {"output folder": args.out}, {"image folder": args.images_dir, "weights file": args.weights})
    if not args.verbose:
        # COLMAP's own errors ("Failed to create any sparse model" for an initial pair that did not
        # hold) are steps of a run that slamfeat reports as a whole
        pycolmap.logging.minloglevel = 3
    config = ReconstructionConfig(
        model=str(args.model), weights=args.weights, extractor_conf=model_conf(args), pairs=args.pairs,
        matcher=args.matcher, matcher_conf=matcher_options(matcher_config(args)), camera_model=args.camera_model,
        camera_params=args.camera_params,
        single_camera=args.single_camera, mapper=args.mapper, compare_sift=args.compare_sift,
        device=args.device, seed=args.seed, overwrite=args.overwrite)
    report = reconstruct(args.images_dir, args.out, config)
    rows = [_row(report)] + ([_row(report["sift"])] if "sift" in report else [])
    print_table(rows, ["model", "registered", "points3D", "reproj_px", "track_len", "pos_err_rel", "rot_err_deg", "time_s"])
    print(f"matcher: {describe_matcher(report['matcher'])}")
    if "outputs" in report:
        print(f"model -> {report['outputs']['model']} (COLMAP), {report['outputs']['ply']}")
    write_report(args, report)
    return 0


def matcher_options(config) -> dict:
    """The options that differ from :class:`~slamfeat.matching.MatcherConfig`'s defaults (as ``matcher_conf``)."""
    from dataclasses import asdict

    from ..matching import MatcherConfig
    default = asdict(MatcherConfig())
    return {k: v for k, v in asdict(config).items() if k != "name" and v != default[k]}


def _row(r: dict) -> list:
    pose = r.get("pose_error") or {}
    return [r["model"], f"{r['registered_images']}/{r['num_images']}", r["points3D"], r["mean_reproj_error"],
            r["mean_track_length"], pose.get("median_position_error_rel"), pose.get("median_rotation_error_deg"),
            r["time_s"]["total"]]
