"""Render a drone flight over a textured town and write it as an AirSim recording.

The output folder, as AirSim's recorder writes it::

    DIR/airsim_rec.txt        VehicleName TimeStamp POS_X POS_Y POS_Z Q_W Q_X Q_Y Q_Z ImageFile (tabs)
    DIR/images/img_0_0_<ts>.png   scene image (RGB)
    DIR/images/img_0_1_<ts>.pfm   DepthPlanar, float metres (AirSim image type 1)
    DIR/settings.json         AirSim settings with the capture size and FOV_Degrees
    DIR/groundtruth.txt       TUM trajectory of the camera (OpenCV camera axes, world NED, seconds)

The recorded pose is the pose of the camera body (AirSim axes: x forward, y right, z down) in the
NED world; the renderer mounts the camera at the vehicle origin and puts the gimbal's pitch into
the recorded orientation, so the recorded pose is the camera's. Timestamps are milliseconds, 10 Hz.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from ..datasets.airsim import CAM_FROM_BODY, HEADER, write_pfm
from ..errors import BadInput
from ..geometry.camera import check_fov, intrinsics_from_fov
from ..geometry.pose import relative_pose
from ..io import atomic_path, write_text_atomic
from ..io.outputs import check_distinct, output_file, output_folder, output_lock
from ..io.pairs import PosePair, write_pose_pairs
from ..io.tum import write_tum
from ..progress import progress
from .scene import Lighting, Scene, _unit, build_town, camera_rays, render

PRESETS = {
    # metres per frame, yaw turn scale, fraction of low-texture surfaces, light changes over the flight
    "default": {"speed": 0.35, "turn": 1.0, "low_texture": 0.0, "light_change": False},
    "hard": {"speed": 0.9, "turn": 1.8, "low_texture": 0.5, "light_change": True},
}
START_MS = 1_700_000_000_000
FRAME_MS = 100
PAIR_GAPS = (5, 10, 20)


MAX_SYNTH_SIDE = 8192  # px; larger frames would need gigabytes per ray-cast


def flight_path(rng: np.random.Generator, frames: int, speed: float, turn: float) -> list[np.ndarray]:
    """Body poses (``4×4``, AirSim body axes → NED world) of a smooth flight at ``speed`` m/frame.

    A closed loop of two harmonics (radius 35–55 m) followed at constant speed; yaw along the
    path tangent, altitude 13–19 m, camera pitched 30–40° down, a little roll.
    """
    a, c = rng.uniform(40, 55, 2) / turn ** 0.5
    b, d = rng.uniform(4, 10, 2) * turn
    p1, p2, theta0 = rng.uniform(0, 2 * np.pi, 3)
    sign = rng.choice([-1.0, 1.0])
    theta = theta0 + sign * np.linspace(0, 4 * np.pi, 20000)
    xy = np.stack([a * np.cos(theta) + b * np.cos(3 * theta + p1), c * np.sin(theta) + d * np.sin(2 * theta + p2)], 1)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
    s = np.arange(frames + 1) * speed
    if s[-1] > arc[-1]:
        raise BadInput(f"{frames} frames: too many for one flight (at most {int(arc[-1] / speed)})", option="frames")
    x, y = np.interp(s, arc, xy[:, 0]), np.interp(s, arc, xy[:, 1])
    yaw = np.unwrap(np.arctan2(np.gradient(y), np.gradient(x)))
    q1, q2, q3 = rng.uniform(0, 2 * np.pi, 3)
    alt = 16 + 3 * np.sin(2 * np.pi * s / 70 + q1)
    pitch = -np.radians(35 + 5 * np.sin(2 * np.pi * s / 50 + q2))
    roll = np.radians(2 * np.sin(2 * np.pi * s / 40 + q3))
    poses = []
    for i in range(frames):
        T = np.eye(4)
        T[:3, :3] = Rotation.from_euler("ZYX", [yaw[i], pitch[i], roll[i]]).as_matrix()
        T[:3, 3] = [x[i], y[i], -alt[i]]
        poses.append(T)
    return poses


def lighting_at(i: int, frames: int, change: bool) -> Lighting:
    """Constant sun; with ``change``, the sun swings and dims and the exposure drifts over the flight."""
    if not change:
        return Lighting()
    f = i / max(frames - 1, 1)
    sun = _unit([0.4 + 0.8 * np.cos(np.pi * f), 0.3 + 0.6 * np.sin(np.pi * f), -1.0])
    return Lighting(sun=sun, ambient=0.3 + 0.25 * f, diffuse=0.9 - 0.5 * f, exposure=1.15 - 0.35 * np.sin(3 * np.pi * f) ** 2)


def camera_pose(T_world_body: np.ndarray) -> np.ndarray:
    """Camera pose with OpenCV axes from an AirSim body pose (camera at the body origin)."""
    T = T_world_body.copy()
    T[:3, :3] = T_world_body[:3, :3] @ CAM_FROM_BODY.T
    return T


def airsim_settings(size: tuple[int, int], fov_deg: float) -> dict:
    """AirSim settings.json content for the capture (scene image type 0, planar depth type 1)."""
    captures = [{"ImageType": t, "Width": size[0], "Height": size[1], "FOV_Degrees": fov_deg} for t in (0, 1)]
    return {"SettingsVersion": 1.2, "SimMode": "Multirotor", "CameraDefaults": {"CaptureSettings": captures},
            "Recording": {"RecordOnMove": False, "RecordInterval": FRAME_MS / 1000,
                          "Cameras": [{"CameraName": "0", "ImageType": 0, "PixelsAsFloat": False, "Compress": True},
                                      {"CameraName": "0", "ImageType": 1, "PixelsAsFloat": True, "Compress": False}]}}


def preset_conf(preset: str = "default", **overrides) -> dict:
    """A preset's settings with the given ones (not None) replaced."""
    if preset not in PRESETS:
        raise BadInput(f"preset {preset!r}: expected one of {', '.join(PRESETS)}", option="preset")
    conf = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    if not conf["speed"] > 0 or not 0 <= conf["low_texture"] <= 1:
        raise BadInput(f"speed {conf['speed']} must be positive and low-texture fraction {conf['low_texture']} in [0, 1]")
    return conf


def build_flight(seed: int, frames: int, preset: str = "default", **overrides) -> tuple[Scene, list[np.ndarray]]:
    """The town and the body poses of the flight that :func:`render_sequence` renders for a seed
    (``overrides``: ``speed``, ``turn``, ``low_texture`` as in :data:`PRESETS`)."""
    conf = preset_conf(preset, **overrides)
    rng = np.random.default_rng(seed)
    scene = build_town(rng, low_texture_fraction=conf["low_texture"])
    return scene, flight_path(rng, frames, conf["speed"], conf["turn"])


def render_sequence(out_dir: str | os.PathLike, frames: int = 200, seed: int = 0, size: tuple[int, int] = (640, 480),
                    fov_deg: float = 90.0, preset: str = "default", pairs_out: str | os.PathLike | None = None,
                    pair_gaps: tuple[int, ...] = PAIR_GAPS, pair_stride: int = 5, speed: float | None = None,
                    low_texture: float | None = None, light_change: bool | None = None) -> Path:
    """Render ``frames`` views of a seeded town and write them as an AirSim recording in ``out_dir``.

    Args:
        size: ``(W, H)`` in pixels. fov_deg: horizontal field of view.
        preset: ``default`` or ``hard`` (faster motion and sharper turns, half the surfaces low in
            texture, the light changing over the flight).
        pairs_out: also write frame pairs at ``pair_gaps`` (every ``pair_stride`` frames) with their
            intrinsics and relative poses in SuperGlue's format, names relative to ``out_dir/images``.
        speed, low_texture, light_change: override the preset's metres per frame, fraction of
            low-texture surfaces and changing light.

    Returns:
        ``out_dir``. The same seed and options give identical files.
    """
    conf = preset_conf(preset, speed=speed, low_texture=low_texture, light_change=light_change)
    if frames < 1:
        raise BadInput(f"{frames} frames: at least 1", option="frames")
    w, h = size
    if min(w, h) < 16 or max(w, h) > MAX_SYNTH_SIDE:
        raise BadInput(f"image size {w}x{h}: expected 16 to {MAX_SYNTH_SIDE} px a side", option="size")
    check_fov(fov_deg)
    out = output_folder(out_dir, "recording folder")
    if pairs_out is not None:
        output_file(pairs_out, "pairs file")
        check_distinct({"recording folder": out, "pairs file": pairs_out})
    with output_lock(out):
        return _render(out, frames, seed, size, fov_deg, preset, conf, pairs_out, pair_gaps, pair_stride,
                       speed, low_texture)


def _render(out: Path, frames, seed, size, fov_deg, preset, conf, pairs_out, pair_gaps, pair_stride,
            speed, low_texture) -> Path:
    w, h = size
    scene, bodies = build_flight(seed, frames, preset, speed=speed, low_texture=low_texture)
    K = intrinsics_from_fov(w, h, fov_deg)
    rays = camera_rays(K, size)
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(HEADER)]
    stamps, cams = [], []
    for i, T_body in enumerate(progress(bodies, "render")):
        T_cam = camera_pose(T_body)
        image, depth = render(scene, T_cam, K, size, lighting_at(i, frames, conf["light_change"]), rays)
        ts = START_MS + i * FRAME_MS
        scene_name, depth_name = f"img_0_0_{ts}.png", f"img_0_1_{ts}.pfm"
        with atomic_path(out / "images" / scene_name) as tmp:
            if not cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                raise BadInput(f"{out / 'images' / scene_name}: cannot write")
        write_pfm(out / "images" / depth_name, depth)
        qx, qy, qz, qw = Rotation.from_matrix(T_body[:3, :3]).as_quat()
        x, y, z = T_body[:3, 3]
        lines.append("\t".join(["Drone1", str(ts), *(f"{v:.6f}" for v in (x, y, z, qw, qx, qy, qz)),
                                f"{scene_name};{depth_name}"]))
        stamps.append(ts / 1000.0)
        cams.append(T_cam)
    write_text_atomic(out / "settings.json", json.dumps(airsim_settings(size, fov_deg), indent=2) + "\n")
    write_tum(out / "groundtruth.txt", stamps, cams)
    write_text_atomic(out / "airsim_rec.txt", "\n".join(lines) + "\n")
    made = {ln.split("\t")[-1] for ln in lines[1:]}
    made = {name for both in made for name in both.split(";")}
    for old in (out / "images").glob("img_0_[01]_*.*"):  # frames of an earlier, longer run
        if old.name not in made:
            old.unlink()
    if pairs_out is not None:
        names = [ln.split("\t")[-1].split(";")[0] for ln in lines[1:]]
        write_pose_pairs(pairs_out, sequence_pairs(names, cams, K, pair_gaps, pair_stride))
    return out


def sequence_pairs(names: list[str], T_world_cam: list[np.ndarray], K: np.ndarray, gaps=PAIR_GAPS,
                   stride: int = 5) -> list[PosePair]:
    """Pairs ``(i, i + gap)`` for each gap and every ``stride``-th frame ``i``, with relative poses."""
    pairs = []
    for gap in gaps:
        for i in range(0, len(names) - gap, stride):
            j = i + gap
            pairs.append(PosePair(names[i], names[j], 0, 0, K, K, relative_pose(T_world_cam[i], T_world_cam[j])))
    return pairs
