"""Frame sources for visual odometry: a video, an image folder, an AirSim recording, a TUM RGB-D folder.

Every source yields ``(timestamp in seconds, H×W×3 RGB uint8 image)`` in order, knows its image
size, and, where the source carries them, its intrinsics and ground-truth camera-to-world poses
(``T_world_cam``, OpenCV camera axes: x right, y down, z forward).
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from ..datasets.airsim import read_recording
from ..errors import BadInput
from ..geometry.camera import intrinsics_from_fov
from ..io import IMAGE_SUFFIXES, list_images, read_image
from ..io.tum import tum_to_pose

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
GUESS_FOCAL_FACTOR = 1.2  # focal length ≈ 1.2 × the longest side, COLMAP's default prior
# Intrinsics that the TUM RGB-D benchmark publishes for its three sensors (fx, fy, cx, cy, k1, k2, p1, p2, k3).
TUM_CAMERAS = {
    "freiburg1": (517.3, 516.5, 318.6, 255.3, 0.2624, -0.9531, -0.0054, 0.0026, 1.1633),
    "freiburg2": (520.9, 521.0, 325.1, 249.7, 0.2312, -0.7849, -0.0033, -0.0001, 0.9172),
    "freiburg3": (535.4, 539.2, 320.1, 247.6, 0.0, 0.0, 0.0, 0.0, 0.0),
}
TUM_DEFAULT = (525.0, 525.0, 319.5, 239.5)


@dataclass
class Camera:
    """Pinhole intrinsics with optional OpenCV distortion, and where they came from."""

    K: np.ndarray  # 3×3
    dist: np.ndarray | None = None  # k1, k2, p1, p2[, k3]
    origin: str = "guess"  # calib | fov | source | guess

    def describe(self) -> dict:
        fx, fy, cx, cy = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]
        d = {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "from": self.origin}
        if self.dist is not None:
            d["dist"] = [float(v) for v in self.dist]
        return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in d.items()}


@dataclass
class FrameSource:
    """An ordered stream of RGB frames with what is known about the camera.

    Attributes:
        name: the source as the user named it.
        kind: ``video`` | ``folder`` | ``airsim`` | ``tum``.
        image_size: ``(width, height)`` of every frame.
        num_frames: number of frames (a video's count is OpenCV's estimate).
        camera: intrinsics from the source itself, or None.
        ground_truth: ``(timestamps N, T_world_cam N×4×4)`` or None.
    """

    name: str
    kind: str
    image_size: tuple[int, int]
    num_frames: int
    reader: Callable[[], Iterator[tuple[float, np.ndarray]]]
    camera: Camera | None = None
    ground_truth: tuple[np.ndarray, np.ndarray] | None = None
    extra: dict = field(default_factory=dict)

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """``(timestamp s, H×W×3 RGB uint8)`` in order; BadInput when a frame changes size."""
        w, h = self.image_size
        for index, (timestamp, image) in enumerate(self.reader()):
            if image.shape[1] != w or image.shape[0] != h:
                raise BadInput(f"{self.name}: frame {index} is {image.shape[1]}×{image.shape[0]} px, "
                               f"earlier frames are {w}×{h} px (frames must not change size)")
            yield timestamp, image


def open_source(source: str | os.PathLike, fps: float = 30.0) -> FrameSource:
    """The frame source at ``source``: a video file or a folder (AirSim recording, TUM RGB-D, images).

    Args:
        fps: frame rate used for the timestamps of image folders (videos use their own).
    Raises:
        BadInput: missing path, a video that does not open, a folder without images, a frame rate ≤ 0.
    """
    if not (isinstance(fps, (int, float)) and np.isfinite(fps) and fps > 0):
        raise BadInput(f"frame rate {fps}: must be a positive number", option="fps")
    path = Path(source)
    if not path.exists():
        raise BadInput(f"{path}: no such file or folder")
    if path.is_file():
        return _video(path)
    if _is_airsim(path):
        return _airsim(path)
    if (path / "rgb.txt").is_file():
        return _tum(path)
    return _folder(path, fps)


def _rgb8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        image = (image / 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return image


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what native code (FFmpeg) prints on file descriptor 2 while probing a file:
    a file that does not open is reported in one line of our own."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _video(path: Path) -> FrameSource:
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise BadInput(f"{path}: an image, not a video or a folder of frames")
    with _quiet_native_stderr():
        cap = cv2.VideoCapture(str(path))
        ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok or first is None:
        cap.release()
        raise BadInput(f"{path}: not a video OpenCV can open (or it has no frames)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    fps = fps if 0 < fps < 1000 else 30.0
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    cap.release()
    size = (first.shape[1], first.shape[0])

    def reader():
        cap = cv2.VideoCapture(str(path))
        try:
            index = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield index / fps, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            cap.release()

    return FrameSource(str(path), "video", size, count, reader)


def _image_reader(paths: list[Path], timestamps: np.ndarray):
    def reader():
        for t, p in zip(timestamps, paths):
            yield float(t), _rgb8(read_image(p))
    return reader


def _folder(path: Path, fps: float) -> FrameSource:
    images = list_images(path)
    first = read_image(images[0])
    size = (first.shape[1], first.shape[0])
    times = np.arange(len(images)) / fps
    return FrameSource(str(path), "folder", size, len(images), _image_reader(images, times))


def _is_airsim(path: Path) -> bool:
    return (path / "airsim_rec.txt").is_file()


def _airsim(path: Path) -> FrameSource:
    rec = read_recording(path)
    if not rec.frames:
        raise BadInput(f"{path}: AirSim recording without frames")
    times = np.array([f.timestamp for f in rec.frames], np.float64)
    poses = np.stack([np.asarray(f.T_world_cam, np.float64) for f in rec.frames])
    paths = [Path(f.image_path) for f in rec.frames]
    camera = Camera(np.asarray(rec.K, np.float64), None, "source")
    return FrameSource(str(path), "airsim", tuple(int(v) for v in rec.image_size), len(paths),
                       _image_reader(paths, times), camera, (times, poses))


def _read_tum_list(path: Path, columns: int) -> list[list[str]]:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        if len(parts) < columns:
            raise BadInput(f"{path}:{n}: expected {columns} columns, got {len(parts)}")
        rows.append(parts)
    return rows


def _tum(path: Path) -> FrameSource:
    rows = _read_tum_list(path / "rgb.txt", 2)
    if not rows:
        raise BadInput(f"{path / 'rgb.txt'}: no frames listed")
    try:
        times = np.array([float(r[0]) for r in rows])
    except ValueError:
        raise BadInput(f"{path / 'rgb.txt'}: timestamps must be numbers") from None
    images = [path / r[1] for r in rows]
    first = read_image(images[0])
    size = (first.shape[1], first.shape[0])
    camera = _tum_camera(path, size)
    gt = None
    if (path / "groundtruth.txt").is_file():
        g = _read_tum_list(path / "groundtruth.txt", 8)
        try:
            a = np.array([[float(v) for v in r[:8]] for r in g], np.float64)
        except ValueError:
            raise BadInput(f"{path / 'groundtruth.txt'}: values must be numbers") from None
        if len(a):
            gt = (a[:, 0], np.stack([tum_to_pose(row[1:8]) for row in a]))
    return FrameSource(str(path), "tum", size, len(images), _image_reader(images, times), camera, gt)


def _tum_camera(path: Path, size: tuple[int, int]) -> Camera | None:
    name = path.resolve().name.lower()
    for key, values in TUM_CAMERAS.items():
        if key in name and size == (640, 480):
            fx, fy, cx, cy, *dist = values
            K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float64)
            return Camera(K, np.array(dist) if any(dist) else None, "source")
    if size == (640, 480):
        fx, fy, cx, cy = TUM_DEFAULT
        return Camera(np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float64), None, "source")
    return None


def parse_calib(text: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``fx,fy,cx,cy[,k1,k2,p1,p2[,k3]]`` as ``(K 3×3, dist or None)``."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise BadInput(f"calibration {text!r}: expected numbers fx,fy,cx,cy[,k1,k2,p1,p2]", option="calib") from None
    if len(values) not in (4, 8, 9):
        raise BadInput(f"calibration {text!r}: expected 4 values fx,fy,cx,cy or 8/9 with distortion, "
                       f"got {len(values)}", option="calib")
    fx, fy, cx, cy = values[:4]
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float64)
    dist = np.array(values[4:], np.float64) if len(values) > 4 and any(values[4:]) else None
    return K, dist


def choose_camera(source: FrameSource, calib: str | None = None, fov: float | None = None) -> Camera:
    """Intrinsics from ``calib``, else ``fov``, else the source, else a stated guess; checked against the image."""
    w, h = source.image_size
    if calib and fov is not None:
        raise BadInput(f"calibration {calib} and field of view {fov}: give one of the two, not both")
    if calib:
        K, dist = parse_calib(calib)
        camera, what, option = Camera(K, dist, "calib"), f"calibration {calib!r}", "calib"
    elif fov is not None:
        camera, what, option = Camera(intrinsics_from_fov(w, h, fov), None, "fov"), f"field of view {fov:g}°", "fov"
    elif source.camera is not None:
        camera, what, option = source.camera, f"{source.name}: intrinsics", None
    else:
        f = GUESS_FOCAL_FACTOR * max(w, h)
        K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
        camera, what, option = Camera(K, None, "guess"), "guess", None
    check_intrinsics(camera.K, (w, h), what, option)
    return camera


def check_intrinsics(K: np.ndarray, image_size: tuple[int, int], what: str, option: str | None = None) -> None:
    """BadInput when focal lengths are not positive or the principal point lies outside the image."""
    w, h = image_size
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if not (np.isfinite(K).all() and fx > 0 and fy > 0):
        raise BadInput(f"{what}: focal lengths must be positive numbers (fx={fx:g}, fy={fy:g})", option=option)
    if not (-0.5 <= cx <= w - 0.5 and -0.5 <= cy <= h - 0.5):
        raise BadInput(f"{what}: principal point ({cx:g}, {cy:g}) lies outside the {w}×{h} image", option=option)
    if not (0.05 * max(w, h) <= fx <= 50 * max(w, h) and 0.05 * max(w, h) <= fy <= 50 * max(w, h)) or not (0.2 < fx / fy < 5):
        raise BadInput(f"{what}: focal lengths fx={fx:g}, fy={fy:g} do not fit a {w}×{h} image", option=option)
