"""Where a VO run's scale goes: each new keyframe of one run against an AirSim recording's ground truth.

    python scripts/vo_keyframe_scale.py runs/hard_sequence nn|lightglue [--ransac-seed S] [--set FIELD=VALUE …] [vo flags …]

For every keyframe after the first map: the keyframe it was made from, the matches between the two,
the map points the new keyframe holds (tracked and new), the median ray angle of the
points those matches triangulate (degrees), and the keyframe step's length over its true length.
The last column is the map's local scale; it stays near the run's global scale (the first rows) in a
good run, and a jump in it is where the run went wrong (stop 27: mutual NN, hard seed 1, draw 1, the
step 138 → 144 comes out at 0.56 of its true length after keyframes made in a fast turn hold
137–292 points, their new ones seen under 1.6–1.9°). Runs the same front end as
``vo_matcher_ablation.py`` and takes its options (``--ransac-seed``, ``--set``, ``--pnp-px``,
``--refine-px``, ``--keep``, and ``slamfeat vo`` flags such as ``--model``).
"""

import sys

import numpy as np

import slamfeat.vo.frontend as frontend
import vo_matcher_ablation as ablation
from slamfeat.datasets.airsim import read_recording
from slamfeat.errors import BadInput
from slamfeat.geometry.pose import invert_pose
from slamfeat.geometry.two_view import triangulate


def centre(T_cam_world: np.ndarray) -> np.ndarray:
    return invert_pose(T_cam_world)[:3, 3]


def die(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(2)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in ablation.VARIANTS:
        die(f"usage: vo_keyframe_scale.py AIRSIM_FOLDER {{{'|'.join(ablation.VARIANTS)}}} "
            "[--ransac-seed S] [--set FIELD=VALUE …] [vo_matcher_ablation.py and slamfeat vo options]")
    source, variant = argv[0], argv[1]
    flags, settings, config = ablation.parse_options(argv[2:])
    if "--draws" in settings:
        die("vo_keyframe_scale.py: one draw a run (--ransac-seed S), not --draws")
    seed = int(settings["--ransac-seed"]) if "--ransac-seed" in settings else None
    pnp_px, refine_px = ablation.pnp_options(settings)
    try:
        truth = [T_world_cam[:3, 3] for T_world_cam in read_recording(source).poses()]
    except BadInput as e:
        die(f"vo_keyframe_scale.py: {e}")
    made = frontend.triangulate_new_points
    rows = []

    def logged(point_map, ref, new, pairs, K, cfg):
        made(point_map, ref, new, pairs, K, cfg)
        _, valid, angle = triangulate(ref.T_cam_world, new.T_cam_world, K, ref.frame.keypoints[pairs[:, 0]],
                                      new.frame.keypoints[pairs[:, 1]], 1e9, 0.0)
        step = np.linalg.norm(centre(new.T_cam_world) - centre(ref.T_cam_world))
        true_step = np.linalg.norm(truth[new.frame.index] - truth[ref.frame.index])
        rows.append((ref.frame.index, new.frame.index, len(pairs), int((new.point_ids >= 0).sum()),
                     float(np.median(angle[valid])) if valid.any() else float("nan"), step / max(true_step, 1e-9)))

    frontend.triangulate_new_points = logged
    ablation.shuffle_ransac(seed)
    report = ablation.run(source, variant, flags, pnp_px, refine_px, settings.get("--keep"), config)
    print(f"ATE {100 * report['ate_rmse_rel']:.3f} % of the path")
    print("keyframes  matches  points  ray angle (°)  step / true step")
    for ref, new, matches, points, angle, ratio in rows:
        print(f"{ref:4d} → {new:4d} {matches:7d} {points:7d} {angle:14.2f} {ratio:17.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
