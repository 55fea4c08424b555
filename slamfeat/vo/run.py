"""One VO run from a frame source to its report and outputs (trajectory, plot, video, map)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..features import Extractor
from ..io import write_json_atomic, write_text_atomic
from ..io.outputs import output_folder, output_lock
from ..io.tum import write_tum
from ..progress import progress
from .config import VOConfig
from .frontend import VisualOdometry
from .metrics import associate, path_length, trajectory_errors
from .outputs import MatchVideo, draw_result, plot_trajectory, write_ply
from .results import FrameResult
from .sources import Camera, FrameSource


VO_FILES = ("trajectory.txt", "trajectory.png", "matches.mp4", "map.ply", "config.json", "report.json")


@dataclass
class VOOutputs:
    """Where a run's files went (None when not written)."""

    trajectory: Path
    plot: Path | None
    video: Path | None
    map: Path | None
    report: Path


def run_vo(source: FrameSource, extractor: Extractor, camera: Camera, out_dir: str | Path,
           config: VOConfig | None = None, max_frames: int | None = None, draw: bool = True,
           show: bool = False, model_name: str | None = None) -> tuple[dict, VOOutputs]:
    """Track every frame of ``source`` and write the outputs into ``out_dir``.

    Raises:
        BadInput: ``max_frames`` below 1.
    Returns:
        ``(report, outputs)``: the report has the contract keys (``ate_*``/``rpe_*`` only when the
        source has ground truth) and a few more (lost frames, timings, intrinsics used).
    """
    if max_frames is not None and max_frames < 1:
        raise BadInput(f"max_frames {max_frames}: at least 1", option="max_frames")
    out_dir = output_folder(out_dir, "VO output folder")
    with output_lock(out_dir):
        return _run_vo(source, extractor, camera, out_dir, config, max_frames, draw, show, model_name)


def _run_vo(source, extractor, camera, out_dir: Path, config, max_frames, draw, show, model_name):
    vo = VisualOdometry(extractor, camera.K, camera.dist, config)
    video = MatchVideo(out_dir / "matches.mp4") if draw else None
    viewer = _Viewer() if show else None
    results: list[FrameResult] = []
    total = min(source.num_frames, max_frames) if max_frames else source.num_frames
    frames = 0
    t_start = time.perf_counter()
    try:
        for index, (timestamp, image) in enumerate(progress(source.frames(), "vo", total=total or None)):
            if max_frames and index >= max_frames:
                break
            frames += 1
            done = vo.process(timestamp, image, index)
            _consume(done, results, video, viewer)
        _consume(vo.finish(), results, video, viewer)
    except BaseException:
        if video is not None:
            video.close(keep=False)
        raise
    wall = time.perf_counter() - t_start
    video_path = video.close() if video is not None else None
    if viewer is not None:
        viewer.close()

    results.sort(key=lambda r: r.index)
    tracked = [r for r in results if r.T_world_cam is not None]
    times = np.array([r.timestamp for r in tracked])
    online = np.stack([r.T_world_cam for r in tracked]) if tracked else np.zeros((0, 4, 4))
    poses = np.stack([r.final_pose() for r in tracked]) if tracked and vo.cfg.final_poses else online
    front_end = vo.timings["extract"] + vo.timings["track"]
    report = {
        "source": source.name,
        "model": model_name or extractor.name,
        "matcher": vo.matcher.describe(),
        **({"fallback_matcher": vo.fallback.describe(), "fallback_frames": vo.fallback_frames}
           if vo.fallback is not None else {}),
        "frames": frames,
        "tracked_frames": len(tracked),
        "keyframes": len(vo.map.keyframes),
        "fps": frames / front_end if front_end > 0 else 0.0,
        "trajectory_length": path_length(poses),
        "lost_frames": frames - len(tracked),
        "reinitialisations": vo.reinitialisations,
        "poses": "final" if vo.cfg.final_poses else "online",
        **({"last_frame_frames": vo.last_frame_frames} if vo.cfg.track_last_frame else {}),
        **({"bridged_frames": vo.bridge.links, "bridged_reinitialisations": vo.bridged_reinitialisations}
           if vo.cfg.bridge_lost_frames else {}),
        **({"local_map_keyframes": vo.cfg.local_map_keyframes, "local_map_matches": vo.local_map_matches}
           if vo.cfg.local_map_keyframes > 0 else {}),
        "map_points": int(vo.map.alive.sum()),
        "fps_wall": frames / wall if wall > 0 else 0.0,
        # frames per second of processor time: what the front end costs whatever else the machine runs
        "fps_cpu": frames / vo.cpu_seconds if vo.cpu_seconds > 0 else 0.0,
        "ms_per_frame": {k: 1000 * v / max(frames, 1) for k, v in vo.timings.items()},
        "image_size": list(source.image_size),
        **({"failures": vo.failures[:20]} if vo.failures else {}),
        "intrinsics": camera.describe(),
    }
    aligned, errors = None, None
    if source.ground_truth is not None and len(tracked) >= 3:
        gt_times, gt_poses = source.ground_truth
        err = trajectory_errors(times, poses, gt_times, gt_poses)
        if err is not None:
            report.update(trajectory_length=err.trajectory_length, ate_rmse=err.ate_rmse,
                          ate_rmse_rel=err.ate_rmse_rel, rpe_trans=err.rpe_trans, rpe_rot_deg=err.rpe_rot_deg,
                          sim3_scale=err.scale, trajectory_length_unit="ground truth (m)")
            aligned = err
        if vo.cfg.final_poses:  # the poses as they were tracked, for comparison
            err = trajectory_errors(times, online, gt_times, gt_poses)
            if err is not None:
                report["online"] = {"ate_rmse_rel": err.ate_rmse_rel, "rpe_trans": err.rpe_trans,
                                    "rpe_rot_deg": err.rpe_rot_deg}
    outputs = _write_outputs(out_dir, source, report, times, poses, aligned, vo, video_path)
    return report, outputs


def _consume(done: list[FrameResult], results: list[FrameResult], video, viewer) -> None:
    for r in done:
        if video is not None or viewer is not None:
            picture = draw_result(r)
            if picture is not None:
                if video is not None:
                    video.write(picture)
                if viewer is not None:
                    viewer.show(picture)
        r.frame = None  # the image is no longer needed
        results.append(r)


def _write_outputs(out_dir: Path, source: FrameSource, report: dict, times, poses, aligned, vo, video_path) -> VOOutputs:
    trajectory = write_tum(out_dir / "trajectory.txt", times, list(poses))
    plot = None
    if len(poses):
        title = f"{Path(source.name).name} — {report['model']}: {report['tracked_frames']}/{report['frames']} frames tracked"
        if aligned is not None:
            gt_times, gt_poses = source.ground_truth
            ie, ir = associate(times, gt_times)
            ref = gt_poses[ir][:, :3, 3]
            est = aligned.aligned[:, :3, 3]
            title += f"\nATE {report['ate_rmse']:.3g} m ({100 * report['ate_rmse_rel']:.2f} % of {report['trajectory_length']:.1f} m)"
            plot = plot_trajectory(out_dir / "trajectory.png", est, ref, title, np.linalg.norm(est - ref, axis=1))
        else:
            plot = plot_trajectory(out_dir / "trajectory.png", poses[:, :3, 3], None, title)
    xyz, colors = vo.map.observed_points()
    ply = write_ply(out_dir / "map.ply", xyz, colors) if len(xyz) else None
    write_text_atomic(out_dir / "config.json", json.dumps(asdict(vo.cfg), indent=2) + "\n")
    report_path = out_dir / "report.json"
    write_json_atomic(report_path, report)
    made = {Path(p).name for p in (trajectory, plot, video_path, ply, report_path) if p is not None} | {"config.json"}
    for name in set(VO_FILES) - made:  # an earlier run's file must not pass for this run's
        (out_dir / name).unlink(missing_ok=True)
    return VOOutputs(trajectory, plot, video_path, ply, report_path)


class _Viewer:
    """A live window (OpenCV HighGUI); silently nothing where the build has no GUI."""

    def __init__(self) -> None:
        self.ok = True

    def show(self, bgr: np.ndarray) -> None:
        if not self.ok:
            return
        import cv2

        try:
            cv2.imshow("slamfeat vo", bgr)
            cv2.waitKey(1)
        except cv2.error:
            import sys

            print("slamfeat: --show: this OpenCV build has no GUI; showing nothing", file=sys.stderr)
            self.ok = False

    def close(self) -> None:
        if self.ok:
            import cv2

            try:
                cv2.destroyAllWindows()
            except cv2.error:
                pass
