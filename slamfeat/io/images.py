"""Reading images: any file OpenCV reads (8/16-bit, gray, RGB, RGBA) as numpy arrays in their own
bit depth; :func:`image_to_tensor` turns them into the float ``1×C×H×W`` tensors in ``[0, 1]`` that
the extractors take.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch

from ..errors import BadInput

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp"}
MIN_IMAGE_SIDE = 16
MAX_IMAGE_PIXELS = 200_000_000  # a 20000×10000 panorama passes; a declared 100000×100000 would need 30 GB


def read_image(path: str | os.PathLike, grayscale: bool = False) -> np.ndarray:
    """Read an image with OpenCV: 8/16-bit, gray, RGB or RGBA.

    Returns:
        ``H×W`` (gray) or ``H×W×3`` RGB array, uint8 or uint16 as stored; alpha is dropped.

    Raises:
        BadInput: the file is missing, unreadable, truncated or smaller than 16 px a side.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such image file")
    if path.stat().st_size == 0:
        raise BadInput(f"{path}: empty file, not an image")
    check_declared_size(path)
    data = np.fromfile(str(path), dtype=np.uint8)
    image = _decode_quietly(data)
    if image is None:
        raise BadInput(f"{path}: not an image OpenCV can read (corrupt or wrong format)")
    if _is_truncated(path, data):
        raise BadInput(f"{path}: truncated image file")
    return _normalise_layout(image, str(path), grayscale)


def check_declared_size(path: Path) -> None:
    """Raise :class:`BadInput` when the image's header declares more than ``MAX_IMAGE_PIXELS``
    (read from the header alone, before any pixel is decoded)."""
    from PIL import Image  # Pillow (scikit-image's dependency) reads headers; imported only here, where it is used

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None  # the size is judged here, not by Pillow's bomb check
        try:
            with Image.open(path) as im:
                w, h = im.size
        except Exception:  # a format Pillow does not know, or a header it cannot parse: OpenCV decides
            return
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    if w * h > MAX_IMAGE_PIXELS:
        raise BadInput(f"{path}: declares {w}×{h} px, more than slamfeat reads "
                       f"({MAX_IMAGE_PIXELS / 1e6:.0f} megapixels)")


_QUIET_LOCK = threading.Lock()
_quiet = {"depth": 0, "saved": -1, "devnull": -1, "cv_level": None}  # one silence shared by every thread inside


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence what C libraries (libpng, libjpeg, OpenCV's log, COLMAP) print on file descriptor 2
    inside the block; slamfeat reports its own one line.

    File descriptor 2 and OpenCV's log level belong to the process, and images are decoded on
    several threads at once: the first thread in silences them and the last one out restores them
    (a save and restore per thread would let an inner one save the silence as "the original" and
    leave stderr silenced for good).
    """
    with _QUIET_LOCK:
        if _quiet["depth"] == 0:
            _quiet["cv_level"] = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
            try:
                sys.stderr.flush()
                saved = os.dup(2)
            except (OSError, ValueError):  # no real stderr (captured): nothing to silence
                saved = -1
            if saved >= 0:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                _quiet.update(saved=saved, devnull=devnull)
        _quiet["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet["depth"] -= 1
            if _quiet["depth"] == 0:
                cv2.utils.logging.setLogLevel(_quiet["cv_level"])
                if _quiet["saved"] >= 0:
                    os.dup2(_quiet["saved"], 2)
                    os.close(_quiet["saved"])
                    os.close(_quiet["devnull"])
                    _quiet.update(saved=-1, devnull=-1)


def _decode_quietly(data: np.ndarray) -> np.ndarray | None:
    # OpenCV and libpng print their own lines for a corrupt file; slamfeat reports the one line that names it
    try:
        with quiet_stderr():
            return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None


def _is_truncated(path: Path, data: np.ndarray) -> bool:
    # OpenCV decodes a truncated JPEG with a grey bottom and only a warning; the end-of-image
    # marker tells a complete file.
    if path.suffix.lower() in (".jpg", ".jpeg") or data[:2].tobytes() == b"\xff\xd8":
        tail = data[-2:].tobytes()
        return tail != b"\xff\xd9" and b"\xff\xd9" not in data[-64:].tobytes()
    if data[:8].tobytes() == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-16:].tobytes()
    return False


def _normalise_layout(image: np.ndarray, name: str, grayscale: bool) -> np.ndarray:
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        raise BadInput(f"{name}: unsupported pixel type {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
        elif image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        else:
            raise BadInput(f"{name}: {image.shape[2]} channels, expected 1, 3 or 4")
        if grayscale:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    check_image_size(image, name)
    return image


def check_image_size(image: np.ndarray, name: str) -> None:
    """Raise :class:`BadInput` when an ``H×W[×C]`` image is smaller than ``MIN_IMAGE_SIDE``."""
    h, w = image.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise BadInput(f"{name}: image of {w}×{h} px is too small (at least {MIN_IMAGE_SIDE} px a side)")


def image_to_tensor(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """An image as a float ``1×C×H×W`` tensor in ``[0, 1]`` (C = 1 or 3).

    Accepts ``H×W``, ``H×W×C`` (numpy, channels last) or ``C×H×W`` / ``B×C×H×W`` tensors; uint8 is
    divided by 255, uint16 by 65535, float is taken as already in ``[0, 1]``.
    """
    if isinstance(image, torch.Tensor):
        t = image
        if t.dim() == 2:
            t = t[None, None]
        elif t.dim() == 3:
            t = t[None]
        if t.dim() != 4:
            raise BadInput(f"image tensor of shape {tuple(image.shape)}: expected H×W, C×H×W or B×C×H×W")
        t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
    else:
        a = np.asarray(image)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3:
            raise BadInput(f"image array of shape {a.shape}: expected H×W or H×W×C")
        scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(a.dtype, 1.0)
        a = a[:, :, :3].astype(np.float32) / scale
        t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]
    if t.shape[1] not in (1, 3):
        raise BadInput(f"image with {t.shape[1]} channels: expected 1 or 3")
    return t


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name.

    Raises:
        BadInput: the folder is missing or holds no image.
    """
    folder = Path(folder)
    if not folder.exists():
        raise BadInput(f"{folder}: no such folder")
    if not folder.is_dir():
        raise BadInput(f"{folder}: is a file, not a folder of images")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise BadInput(f"{folder}: no images in this folder")
    return images
