"""Textures for the synthetic 3-D scene: photographs that ship with scikit-image and procedural ones.

Every texture is a square ``S×S×3`` uint8 RGB image; everything is drawn from a seeded numpy
generator, so a seed gives the same textures.
"""

from __future__ import annotations

import cv2
import numpy as np
import skimage.data

# photographs shipped inside scikit-image (no download); grouped by what they look like on a surface
PHOTOS = {
    "ground": ["grass", "gravel", "brick", "coffee", "rocket", "moon", "astronaut"],
    "facade": ["camera", "chelsea", "coins", "brick", "page", "immunohistochemistry"],
    "roof": ["gravel", "moon", "hubble_deep_field", "coins"],
}


def photo(name: str, size: int) -> np.ndarray:
    """A scikit-image photograph, centre-cropped square and resized to ``size``, RGB uint8."""
    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    img = img[:, :, :3].astype(np.uint8)
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def fractal_noise(rng: np.random.Generator, size: int, octaves: int = 6, persistence: float = 0.6) -> np.ndarray:
    """``size×size`` float32 noise in [0, 1]: random grids of growing resolution, cubic-upsampled and summed."""
    out = np.zeros((size, size), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = 2 ** (o + 2)
        grid = rng.random((cells, cells)).astype(np.float32)
        out += amp * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
    out /= total
    return ((out - out.min()) / max(float(np.ptp(out)), 1e-6)).astype(np.float32)


def _tint(gray: np.ndarray, rng: np.random.Generator, base: tuple[float, float, float] | None = None) -> np.ndarray:
    colour = np.asarray(base if base is not None else rng.uniform(0.45, 1.0, 3), np.float32)
    return np.clip(gray[:, :, None] * colour * 255, 0, 255).astype(np.uint8)


def blobs(rng: np.random.Generator, size: int) -> np.ndarray:
    """Noise with scattered discs and rectangles of random shades (corner- and blob-rich)."""
    img = 0.35 + 0.3 * fractal_noise(rng, size)
    for _ in range(int(size * size / 2500)):
        x, y = rng.integers(0, size, 2)
        shade = float(rng.uniform(0, 1))
        if rng.random() < 0.5:
            cv2.circle(img, (int(x), int(y)), int(rng.integers(3, size // 20)), shade, -1, cv2.LINE_AA)
        else:
            w, h = rng.integers(4, size // 12, 2)
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), shade, -1)
    return _tint(img, rng)


def bricks(rng: np.random.Generator, size: int) -> np.ndarray:
    """Brick courses with mortar joints and per-brick shade."""
    img = np.full((size, size), 0.8, np.float32)
    bh = size // int(rng.integers(10, 18))
    bw = bh * 2
    for row, y in enumerate(range(0, size, bh)):
        off = (bw // 2) * (row % 2)
        for x in range(-off, size, bw):
            cv2.rectangle(img, (x + 1, y + 1), (x + bw - 2, y + bh - 2), float(rng.uniform(0.25, 0.65)), -1)
    img = img * (0.8 + 0.2 * fractal_noise(rng, size))
    return _tint(img, rng, (1.0, rng.uniform(0.45, 0.7), rng.uniform(0.3, 0.5)))


def facade(rng: np.random.Generator, size: int) -> np.ndarray:
    """A wall with a grid of framed windows, each window with its own reflection."""
    wall = 0.55 + 0.3 * fractal_noise(rng, size, octaves=5)
    img = wall.copy()
    nx, ny = int(rng.integers(3, 6)), int(rng.integers(3, 6))
    cw, ch = size // nx, size // ny
    ww, wh = int(cw * rng.uniform(0.4, 0.7)), int(ch * rng.uniform(0.4, 0.7))
    for i in range(nx):
        for j in range(ny):
            x0, y0 = i * cw + (cw - ww) // 2, j * ch + (ch - wh) // 2
            cv2.rectangle(img, (x0 - 3, y0 - 3), (x0 + ww + 3, y0 + wh + 3), 0.95, -1)
            glass = float(rng.uniform(0.05, 0.45))
            cv2.rectangle(img, (x0, y0), (x0 + ww, y0 + wh), glass, -1)
            cv2.line(img, (x0 + ww // 2, y0), (x0 + ww // 2, y0 + wh), 0.9, 2)
            if rng.random() < 0.5:  # a curtain or a light inside
                cv2.rectangle(img, (x0 + 2, y0 + 2), (x0 + ww // 2 - 2, y0 + int(wh * rng.uniform(0.2, 0.9))),
                              float(rng.uniform(0.5, 0.9)), -1)
    return _tint(img, rng)


def asphalt(rng: np.random.Generator, size: int) -> np.ndarray:
    """Dark grainy asphalt with painted markings and cracks."""
    img = 0.25 + 0.2 * fractal_noise(rng, size, octaves=7, persistence=0.8)
    for _ in range(int(rng.integers(2, 5))):
        x = int(rng.integers(0, size))
        for y in range(0, size, size // 8):
            cv2.rectangle(img, (x, y), (x + size // 60, y + size // 16), 0.9, -1)
    for _ in range(12):
        pts = np.cumsum(rng.normal(0, size / 40, (8, 2)), 0) + rng.integers(0, size, 2)
        cv2.polylines(img, [pts.astype(np.int32)], False, 0.1, 1, cv2.LINE_AA)
    return _tint(img, rng, (1.0, 1.0, 1.0))


PROCEDURAL = {"blobs": blobs, "bricks": bricks, "facade": facade, "asphalt": asphalt}


def low_texture(texture: np.ndarray, strength: float = 0.8) -> np.ndarray:
    """The texture blurred and with its contrast cut by ``strength`` (hard sequences)."""
    t = cv2.GaussianBlur(texture.astype(np.float32), (0, 0), 4.0)
    mean = t.mean(axis=(0, 1), keepdims=True)
    return np.clip(mean + (t - mean) * (1 - strength), 0, 255).astype(np.uint8)


def texture_set(rng: np.random.Generator, size: int = 512) -> tuple[list[np.ndarray], dict[str, list[int]]]:
    """All textures of a scene and, per surface kind (``ground``, ``facade``, ``roof``, ``object``),
    the indices of the textures it may use."""
    textures: list[np.ndarray] = []
    kinds: dict[str, list[int]] = {"ground": [], "facade": [], "roof": [], "object": []}

    def add(tex: np.ndarray, *ks: str) -> None:
        for k in ks:
            kinds[k].append(len(textures))
        textures.append(tex)

    for kind, names in PHOTOS.items():
        for name in names:
            add(photo(name, size), kind)
    for _ in range(3):
        add(facade(rng, size), "facade")
        add(blobs(rng, size), "ground", "object", "roof")
    add(bricks(rng, size), "facade", "ground")
    add(asphalt(rng, size), "ground")
    add(asphalt(rng, size), "roof", "ground")
    kinds["object"] += kinds["facade"][:3]
    return textures, kinds
