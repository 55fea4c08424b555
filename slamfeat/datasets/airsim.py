"""Read AirSim recordings as the simulator's recorder writes them.

A recording folder holds ``airsim_rec.txt`` and an ``images/`` folder. The text file is
tab-separated with a header line::

    VehicleName  TimeStamp  POS_X  POS_Y  POS_Z  Q_W  Q_X  Q_Y  Q_Z  ImageFile

``TimeStamp`` is in milliseconds; ``POS_*`` is the vehicle position in the NED world frame (metres,
z down); ``Q_*`` the unit quaternion (Hamilton, scalar first) rotating the vehicle's body axes
(x forward, y right, z down) into the world. ``ImageFile`` names the frame's images, several
separated by ``;`` when several cameras or image types are recorded, e.g.
``img_0_0_<ts>.png;img_0_1_<ts>.pfm`` (``img_<camera>_<image type>_<timestamp>``, optionally with
the vehicle name after ``img_``).

Conventions of what comes back:

- Poses ``T_world_cam`` are camera-to-world ``4×4`` with OpenCV camera axes (x right, y down,
  z forward) in the recording's NED world. The camera sits at the vehicle origin, rotated by the
  ``Pitch``/``Roll``/``Yaw`` of ``CameraDefaults`` in ``settings.json`` when the folder has one.
- Intrinsics from the horizontal field of view (AirSim's default 90°: ``f = W / 2``), principal
  point at the image centre; the field of view is the argument, else ``FOV_Degrees`` of
  ``settings.json``, else 90°.
- Depth (image types 1 = DepthPlanar, 2 = DepthPerspective): PFM float metres, or 16-bit PNG in
  millimetres. DepthPlanar is the z coordinate in the camera; DepthPerspective the distance along
  the ray, converted here to planar ``z = d / sqrt(1 + x_n² + y_n²)`` with ``(x_n, y_n)`` the
  normalised image coordinates. Unknown depth (no surface, 0, inf) comes back as 0.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import BadInput
from ..geometry.camera import intrinsics_from_fov
from ..io import atomic_path, read_image

HEADER = ["VehicleName", "TimeStamp", "POS_X", "POS_Y", "POS_Z", "Q_W", "Q_X", "Q_Y", "Q_Z", "ImageFile"]
# c = CAM_FROM_BODY @ b: OpenCV camera axes (right, down, forward) from AirSim body axes (forward, right, down)
CAM_FROM_BODY = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
SCENE, DEPTH_PLANAR, DEPTH_PERSPECTIVE = 0, 1, 2
_NAME = re.compile(r"^img_(?:.*_)?(?P<camera>[^_]+)_(?P<type>\d+)_(?P<ts>\d+)\.(?P<ext>\w+)$")


@dataclass
class AirSimFrame:
    """One recorded frame.

    Attributes:
        timestamp: seconds (AirSim's milliseconds / 1000).
        image_path: the scene image.
        depth_path: the depth image, None when not recorded.
        T_world_cam: ``4×4`` camera-to-world, OpenCV camera axes, world NED as in the recording.
        depth_type: ``planar`` or ``perspective`` (how ``depth_path`` stores depth).
    """

    timestamp: float
    image_path: Path
    depth_path: Path | None
    T_world_cam: np.ndarray
    depth_type: str = "planar"


@dataclass
class AirSimRecording:
    """A recording: frames in time order, the shared intrinsics ``K`` (3×3) and ``image_size`` (w, h)."""

    root: Path
    frames: list[AirSimFrame]
    K: np.ndarray
    image_size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.frames)

    def read_image(self, i: int, grayscale: bool = False) -> np.ndarray:
        """Frame ``i``'s scene image, ``H×W×3`` RGB (or ``H×W`` gray) as stored."""
        image = read_image(self.frames[i].image_path, grayscale=grayscale)
        _check_size(image, self.image_size, self.frames[i].image_path)
        return image

    def read_depth(self, i: int) -> np.ndarray:
        """Frame ``i``'s planar depth, ``H×W`` float32 metres (0 = unknown).

        Raises:
            BadInput: no depth recorded, unreadable file, or a size other than the image's.
        """
        frame = self.frames[i]
        if frame.depth_path is None:
            raise BadInput(f"{self.root / 'airsim_rec.txt'}: frame {i} has no depth image")
        depth = read_depth_file(frame.depth_path)
        _check_size(depth, self.image_size, frame.depth_path)
        if frame.depth_type == "perspective":
            depth = perspective_to_planar(depth, self.K)
        return depth

    def check_depth_sizes(self) -> None:
        """Check every depth image's size against the recording's from the file headers (cheap).

        Raises:
            BadInput: a depth image of another size, or one that cannot be read.
        """
        for frame in self.frames:
            if frame.depth_path is not None:
                size = depth_file_size(frame.depth_path)
                if size != tuple(self.image_size):
                    raise BadInput(f"{frame.depth_path}: {size[0]}×{size[1]} px, but the recording's images are "
                                   f"{self.image_size[0]}×{self.image_size[1]}")

    @property
    def has_depth(self) -> bool:
        return all(f.depth_path is not None for f in self.frames)

    def poses(self) -> list[np.ndarray]:
        return [f.T_world_cam for f in self.frames]


def _check_size(image: np.ndarray, size: tuple[int, int], path: Path) -> None:
    h, w = image.shape[:2]
    if (w, h) != tuple(size):
        raise BadInput(f"{path}: {w}×{h} px, but the recording's images are {size[0]}×{size[1]}")


def depth_file_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(w, h)`` of a PFM or PNG depth image from its header (other formats: read in full)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        raise BadInput(f"{path}: no such depth file") from None
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:2] in (b"Pf", b"PF"):
        tokens = [t for t in head.split(b"\n")[1:3] if not t.startswith(b"#")]
        try:
            w, h = (int(v) for v in tokens[0].split()[:2])
            return w, h
        except (ValueError, IndexError):
            raise BadInput(f"{path}: not a PFM image") from None
    depth = read_depth_file(path)
    return depth.shape[1], depth.shape[0]


def read_pfm(path: str | os.PathLike) -> np.ndarray:
    """A PFM image as ``H×W`` (or ``H×W×3``) float32, top row first (PFM stores bottom row first)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            kind = f.readline().strip()
            dims = f.readline().split()
            while dims and dims[0].startswith(b"#"):
                dims = f.readline().split()
            scale = float(f.readline().strip())
            w, h = int(dims[0]), int(dims[1])
            channels = {b"Pf": 1, b"PF": 3}[kind]
            data = np.frombuffer(f.read(), dtype="<f4" if scale < 0 else ">f4")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such depth file") from None
    except (KeyError, ValueError, IndexError):
        raise BadInput(f"{path}: not a PFM image") from None
    if data.size != w * h * channels:
        raise BadInput(f"{path}: truncated PFM image ({data.size} values for {w}×{h}×{channels})")
    image = data.reshape(h, w, channels)[::-1].astype(np.float32)
    return image[:, :, 0] if channels == 1 else image


def write_pfm(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an ``H×W`` float image as a little-endian PFM, atomically."""
    a = np.asarray(image, dtype="<f4")
    h, w = a.shape[:2]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"Pf\n" + f"{w} {h}\n".encode() + b"-1\n")
            f.write(np.ascontiguousarray(a[::-1]).tobytes())


def read_depth_file(path: str | os.PathLike) -> np.ndarray:
    """Depth in metres, ``H×W`` float32, from a PFM (metres) or a 16-bit PNG (millimetres).

    Non-finite, negative and zero values become 0 (unknown).
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such depth file")
    if path.suffix.lower() == ".pfm":
        depth = read_pfm(path)
    else:
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise BadInput(f"{path}: not an image OpenCV can read")
        if raw.dtype == np.uint16:
            depth = raw.astype(np.float32) / 1000.0
        elif raw.dtype == np.float32:
            depth = raw
        else:
            raise BadInput(f"{path}: depth must be PFM or 16-bit PNG (millimetres), got {raw.dtype}")
    if depth.ndim == 3:
        depth = depth[:, :, 0]
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float32)
    return depth


def write_depth_png(path: str | os.PathLike, depth: np.ndarray) -> None:
    """Write depth in metres as a 16-bit PNG in millimetres; 0 = unknown, which includes depth
    beyond the format's 65.535 m."""
    mm = np.rint(np.nan_to_num(np.asarray(depth, np.float64), nan=0.0, posinf=0.0) * 1000)
    mm = np.where((mm > 0) & (mm <= 65535), mm, 0).astype(np.uint16)
    with atomic_path(path) as tmp:  # the temporary name keeps the .png suffix for OpenCV
        if not cv2.imwrite(str(tmp), mm):
            raise BadInput(f"{path}: cannot write a 16-bit PNG there")


def perspective_to_planar(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Planar depth (z) ``H×W`` from depth along the ray ``H×W``."""
    h, w = depth.shape
    x, y = np.meshgrid((np.arange(w) - K[0, 2]) / K[0, 0], (np.arange(h) - K[1, 2]) / K[1, 1])
    return (depth / np.sqrt(1 + x ** 2 + y ** 2)).astype(np.float32)


def pose_from_record(position, quaternion_wxyz, cam_in_body: np.ndarray | None = None) -> np.ndarray:
    """``T_world_cam`` (OpenCV axes) from a recorded NED position and body quaternion ``(w, x, y, z)``.

    ``cam_in_body`` is the camera's rotation in the body (AirSim axes), identity when None.
    """
    w, x, y, z = quaternion_wxyz
    R_world_body = Rotation.from_quat([x, y, z, w]).as_matrix()
    if cam_in_body is not None:
        R_world_body = R_world_body @ cam_in_body
    T = np.eye(4)
    T[:3, :3] = R_world_body @ CAM_FROM_BODY.T
    T[:3, 3] = position
    return T


def _settings(root: Path) -> dict:
    path = root / "settings.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadInput(f"{path}: not valid JSON") from None


def _camera_from_settings(settings: dict) -> tuple[float | None, np.ndarray | None]:
    cam = settings.get("CameraDefaults", {})
    fov = None
    for capture in cam.get("CaptureSettings", []):
        if capture.get("ImageType", 0) == SCENE and "FOV_Degrees" in capture:
            fov = float(capture["FOV_Degrees"])
    angles = [float(cam.get(k, 0.0)) for k in ("Yaw", "Pitch", "Roll")]
    rot = Rotation.from_euler("ZYX", np.radians(angles)).as_matrix() if any(angles) else None
    return fov, rot


def _split_images(names: str, images: Path, where: str) -> tuple[Path, Path | None, str]:
    """Scene image, depth image and depth type among the ``;``-separated names of a line."""
    scene, depth, depth_type = None, None, "planar"
    for name in (n.strip() for n in names.split(";") if n.strip()):
        m = _NAME.match(name)
        image_type = int(m["type"]) if m else None
        ext = Path(name).suffix.lower()
        if image_type in (DEPTH_PLANAR, DEPTH_PERSPECTIVE) or (image_type is None and ext == ".pfm"):
            if depth is None:
                depth = images / name
                depth_type = "perspective" if image_type == DEPTH_PERSPECTIVE else "planar"
        elif image_type in (SCENE, None) and scene is None and ext != ".pfm":
            scene = images / name
    if scene is None:
        raise BadInput(f"{where}: no scene image among {names!r}")
    return scene, depth, depth_type


def read_recording(root: str | os.PathLike, fov_deg: float | None = None) -> AirSimRecording:
    """Read an AirSim recording folder (``airsim_rec.txt`` + ``images/``).

    Args:
        root: the recording folder (or its ``airsim_rec.txt``).
        fov_deg: horizontal field of view; None = ``settings.json``'s ``FOV_Degrees``, else 90°.

    Raises:
        BadInput: missing file, a malformed line, a named image that does not exist, or images
            of different sizes (the first image of the recording sets the size).
    """
    root = Path(root)
    if root.is_file():
        root = root.parent
    rec = root / "airsim_rec.txt"
    if not rec.is_file():
        raise BadInput(f"{rec}: no such file (not an AirSim recording folder)")
    settings = _settings(root)
    fov_settings, cam_in_body = _camera_from_settings(settings)
    fov = float(fov_deg if fov_deg is not None else fov_settings if fov_settings is not None else 90.0)
    lines = rec.read_text(errors="replace").splitlines()
    has_header = bool(lines) and lines[0].split()[0:1] == ["VehicleName"]
    columns = _columns(lines[0].split(), rec) if has_header else _columns(HEADER, rec)
    start = 1 if has_header else 0
    images = root / "images"
    frames = []
    for n, line in enumerate(lines[start:], start + 1):
        if not line.strip():
            continue
        frames.append(_parse_line(line, f"{rec}:{n}", images, cam_in_body, columns))
    if not frames:
        raise BadInput(f"{rec}: no frames")
    for f in frames:
        if not f.image_path.is_file():
            raise BadInput(f"{f.image_path}: image named in {rec.name} does not exist")
        if f.depth_path is not None and not f.depth_path.is_file():
            raise BadInput(f"{f.depth_path}: depth image named in {rec.name} does not exist")
    first = read_image(frames[0].image_path)
    size = (first.shape[1], first.shape[0])
    frames.sort(key=lambda f: f.timestamp)
    return AirSimRecording(root, frames, intrinsics_from_fov(size[0], size[1], fov), size)


def _columns(header: list[str], rec: Path) -> list[int]:
    """Indices of TimeStamp, POS_X, POS_Y, POS_Z, Q_W, Q_X, Q_Y, Q_Z and ImageFile in a header
    (car recordings add Throttle, Steering, … before ImageFile)."""
    names = [h.strip() for h in header]
    missing = [c for c in HEADER[1:] if c not in names]
    if missing:
        raise BadInput(f"{rec}:1: header lacks column(s) {', '.join(missing)}")
    return [names.index(c) for c in HEADER[1:]]


def _parse_line(line: str, where: str, images: Path, cam_in_body: np.ndarray | None,
                columns: list[int]) -> AirSimFrame:
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) <= max(columns):
        fields = line.split()
    if len(fields) <= max(columns):
        raise BadInput(f"{where}: {len(fields)} fields, expected {max(columns) + 1} "
                       "(vehicle, timestamp, x y z, qw qx qy qz, …, images)")
    try:
        values = [float(fields[c]) for c in columns[:8]]
    except ValueError:
        raise BadInput(f"{where}: timestamp, position and quaternion must be numbers") from None
    q = np.asarray(values[4:8])
    if not np.all(np.isfinite(values)) or np.linalg.norm(q) < 1e-6:
        raise BadInput(f"{where}: invalid pose")
    scene, depth, depth_type = _split_images(fields[columns[8]], images, where)
    return AirSimFrame(values[0] / 1000.0, scene, depth, pose_from_record(values[1:4], q, cam_in_body), depth_type)


__all__ = ["AirSimFrame", "AirSimRecording", "read_recording", "read_pfm", "write_pfm", "read_depth_file",
           "write_depth_png", "depth_file_size", "perspective_to_planar", "pose_from_record", "CAM_FROM_BODY", "HEADER"]
