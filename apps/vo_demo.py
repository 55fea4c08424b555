"""Monocular visual odometry in a dozen lines: copy this file and edit it.

    python apps/vo_demo.py [SOURCE] [--model NAME] [--fov DEG]

SOURCE is a video, an image folder, an AirSim recording or a TUM RGB-D folder; without it the
embedded default sequence is used (rendered once into ~/.cache/slamfeat).
"""

import argparse

from slamfeat import load_extractor
from slamfeat.vo import VOConfig, choose_camera, open_source, run_vo
from slamfeat.vo.default import default_sequence

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("source", nargs="?")
parser.add_argument("--model", default="slamfeat-lite")
parser.add_argument("--fov", type=float, default=None, help="horizontal field of view, when the source has no intrinsics")
parser.add_argument("--out", default="out/vo_demo")
args = parser.parse_args()

source = open_source(args.source or default_sequence())
camera = choose_camera(source, fov=args.fov)  # --calib-style string: choose_camera(source, calib="fx,fy,cx,cy")
extractor = load_extractor(args.model, max_keypoints=1024)
config = VOConfig(ba_window=5, keyframe_min_ratio=0.6)  # every knob of the tracker lives here
report, outputs = run_vo(source, extractor, camera, args.out, config)

print(f"{report['tracked_frames']}/{report['frames']} frames tracked at {report['fps']:.1f} fps")
if "ate_rmse" in report:
    print(f"ATE {report['ate_rmse']:.3f} m = {100 * report['ate_rmse_rel']:.2f} % of {report['trajectory_length']:.1f} m")
print(f"trajectory {outputs.trajectory}, plot {outputs.plot}, video {outputs.video}, map {outputs.map}")
