"""Training pairs without labels: an image and its homographic and photometric warp.

Each sample is a square crop ``A`` of a photograph and ``B``, the same scene seen through a random
homography ``H`` (pixel-centre coordinates, ``x_B ~ H x_A``) with its own brightness, contrast,
gamma, blur and noise. Correspondences follow from ``H``, so no labels are needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..errors import BadInput
from ..io import list_images, read_image

# scikit-image photographs that ship inside the package (no download)
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "brick", "grass", "gravel",
                  "text", "page", "moon", "horse", "hubble_deep_field", "immunohistochemistry", "retina", "cat",
                  "stereo_motorcycle", "clock", "colorwheel", "cell", "logo")


def _rgb_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        image = (image / 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image * (255 if image.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    return np.ascontiguousarray(image[:, :, :3])


def skimage_photos() -> list[np.ndarray]:
    """The photographs of ``skimage.data`` that need no download, as RGB uint8 arrays."""
    import skimage.data

    out = []
    for name in SKIMAGE_PHOTOS:
        try:
            img = getattr(skimage.data, name)()
        except Exception:  # a dataset that would need the network in this install
            continue
        if isinstance(img, tuple):
            out.extend(_rgb_uint8(i) for i in img if getattr(i, "ndim", 0) == 3)
        else:
            out.append(_rgb_uint8(img))
    return out


def airsim_frames(cache_dir: str | os.PathLike, frames: int = 24, size: tuple[int, int] = (640, 480),
                  seed: int = 7) -> list[np.ndarray]:
    """Frames of a flight rendered by ``slamfeat.synth.airsim`` (``size`` = (W, H)), cached in
    ``cache_dir``; empty when rendering fails. The seed differs from the VO demo's."""
    try:  # the renderer needs open3d, which a training machine (a GPU box) may lack: frames are optional
        from ..synth.airsim import render_sequence
    except ImportError:
        return []
    cache = Path(cache_dir)
    found = sorted(cache.rglob("*.png")) if cache.is_dir() else []
    if not found:
        try:
            render_sequence(cache, frames, seed, size)
        except Exception:
            return []
        found = sorted(cache.rglob("*.png"))
    imgs = []
    for p in found:
        if "depth" in str(p).lower() or "seg" in p.name.lower():
            continue
        try:
            imgs.append(_rgb_uint8(read_image(p)))
        except BadInput:
            continue
    return imgs[:frames]


def folder_images(folders: Sequence[str | os.PathLike], min_side: int) -> list[np.ndarray]:
    """RGB uint8 images of every folder (each must hold at least one image).

    Raises:
        BadInput: a folder is missing or holds no image, or no image is at least ``min_side`` px a side.
    """
    out = []
    for folder in folders:
        for p in list_images(folder):
            out.append(_rgb_uint8(read_image(p)))
    if out and not any(min(i.shape[:2]) >= min_side for i in out):
        raise BadInput(f"{folders[0]}: no image is at least {min_side} px a side (the crop size)")
    return out


DEFAULT_SCALE = (0.75, 1.35)


def scale_range(max_scale: float | None) -> tuple[float, float]:
    """The range of the warps' zoom: ``(1/max_scale, max_scale)``, or the default (0.75, 1.35) for None."""
    return DEFAULT_SCALE if max_scale is None else (1.0 / max_scale, max_scale)


def random_homography(size: int, rng: np.random.Generator, max_angle: float = 30.0,
                      scale: tuple[float, float] = DEFAULT_SCALE, perspective: float = 0.12,
                      shift: float = 0.1) -> np.ndarray:
    """A random ``3×3`` homography of a ``size×size`` crop onto itself (pixel-centre coordinates):
    rotation about the centre, zoom (log-uniform in ``scale``), corner jitter (perspective) and
    translation."""
    c = (size - 1) / 2.0
    corners = np.array([[0, 0], [size - 1, 0], [size - 1, size - 1], [0, size - 1]], np.float64) - c
    a = np.deg2rad(rng.uniform(-max_angle, max_angle))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = corners @ rot.T * np.exp(rng.uniform(np.log(scale[0]), np.log(scale[1])))
    moved += rng.uniform(-perspective, perspective, size=(4, 2)) * size
    moved += rng.uniform(-shift, shift, size=2) * size + c
    return cv2.getPerspectiveTransform((corners + c).astype(np.float32), moved.astype(np.float32)).astype(np.float64)


def photometric(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Random brightness, contrast, gamma, blur and noise on an ``H×W×3`` float image in [0, 1]."""
    x = image
    if rng.random() < 0.5 * strength:
        k = int(rng.choice([3, 5]))
        x = cv2.GaussianBlur(x, (k, k), 0)
    x = np.clip(x, 0, 1) ** rng.uniform(1 - 0.35 * strength, 1 + 0.5 * strength)
    x = (x - 0.5) * rng.uniform(1 - 0.35 * strength, 1 + 0.3 * strength) + 0.5
    x = x + rng.uniform(-0.15, 0.15) * strength
    x = x + rng.normal(0, rng.uniform(0, 0.03 * strength), x.shape)
    return np.clip(x, 0, 1).astype(np.float32)


@dataclass
class Pair:
    """Two ``size×size×3`` float32 images in [0, 1] and ``H`` (3×3) taking pixels of A to B."""

    image_a: np.ndarray
    image_b: np.ndarray
    H: np.ndarray


def make_pair(image: np.ndarray, size: int, rng: np.random.Generator, max_angle: float = 30.0,
              max_scale: float | None = None) -> Pair:
    """A training pair from one RGB uint8 image: a random crop (random scale) and its warp, rotated
    by at most ``max_angle`` degrees and zoomed within :func:`scale_range` of ``max_scale``."""
    h, w = image.shape[:2]
    s = min(h, w)
    side = rng.uniform(min(size, s) * 0.9, min(s, size * 2.0))  # crop side in the source image
    side = min(side, s)
    x0, y0 = rng.uniform(0, w - side), rng.uniform(0, h - side)
    k = (size - 1) / max(side - 1, 1)
    crop = np.array([[k, 0, -x0 * k], [0, k, -y0 * k], [0, 0, 1]])  # source → A
    H = random_homography(size, rng, max_angle=max_angle, scale=scale_range(max_scale))
    src = image.astype(np.float32) / 255.0
    a = cv2.warpPerspective(src, crop, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    b = cv2.warpPerspective(src, H @ crop, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return Pair(photometric(a, rng, 0.5), photometric(b, rng, 1.0), H)


def warp_points(points: np.ndarray, H: np.ndarray) -> np.ndarray:
    """``N×2`` pixel points through a ``3×3`` homography."""
    p = np.concatenate([points, np.ones((len(points), 1))], 1) @ H.T
    return p[:, :2] / p[:, 2:3]


def training_images(folders: Sequence[str | os.PathLike] | None, size: int, cache_dir: str | os.PathLike | None,
                    synth_frames: int = 24, with_renders: bool = False) -> list[np.ndarray]:
    """The training images: the given folders (plus rendered frames when ``with_renders``), or by
    default scikit-image's photographs plus frames of ``slamfeat synth airsim`` when available.
    Images smaller than ``size`` are upscaled.

    Raises:
        BadInput: an image folder that is missing or holds no image.
    """
    if folders:
        images = folder_images(folders, 16)
        if with_renders and cache_dir is not None and synth_frames > 0:
            images += airsim_frames(cache_dir, synth_frames)
    else:
        images = skimage_photos()
        if cache_dir is not None and synth_frames > 0:
            images += airsim_frames(cache_dir, synth_frames)
    out = []
    for img in images:
        s = min(img.shape[:2])
        if s < size:
            f = size / s
            img = cv2.resize(img, (max(size, round(img.shape[1] * f)), max(size, round(img.shape[0] * f))))
        out.append(img)
    return out
