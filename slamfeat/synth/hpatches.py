"""A set in the HPatches sequences format, made from scikit-image's photographs or from a folder of
the user's own photographs (``images``): real photographs under known homographies and
photometric changes.

Each sequence starts from one photograph, scaled up so that it covers the output image with a
margin on every side; image 1 is the central crop. ``i_*`` sequences keep the geometry (the
homographies are the identity) and change the photometry with growing strength from image 2 to
image 6: gamma, brightness, contrast, colour balance, a smooth shading ramp, blur and noise.
``v_*`` sequences warp the photograph by homographies of growing strength (rotation about the
image centre, scale, a perspective tilt, a small shift), sampling the margin so the new view has
real content where it looks beyond image 1, plus a mild photometric change. The true ``H_1_k``
are written beside the images, in HPatches' pixel-centre convention.

Everything is drawn from ``numpy.random.default_rng([seed, sequence index])``: a seed gives the
same files on every run.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ..datasets.hpatches import IMAGE_INDICES, write_homography
from ..errors import BadInput
from ..io import list_images, output_dir, read_image

MAX_SYNTH_SIDE = 8192  # px; larger images would need gigabytes per warp

# scikit-image's photographs (no download needed), split between the two kinds
ILLUMINATION_PHOTOS = ("astronaut", "rocket", "camera", "immunohistochemistry", "coins", "retina",
                       "motorcycle_right", "clock")
VIEWPOINT_PHOTOS = ("coffee", "chelsea", "hubble_deep_field", "motorcycle_left", "brick", "moon",
                    "gravel", "grass")
MARGIN = 0.15  # share of the scaled photograph beyond image 1 on each side
SEQUENCE_KINDS = ("iv", "i", "v")  # what a set holds: i_* and v_* in turn, or one kind only


@dataclass(frozen=True)
class SynthHPatchesConfig:
    """What ``slamfeat synth hpatches`` makes."""

    seed: int = 0
    sequences: int | None = 16  # half i_*, half v_* (one more i_* when odd)
    max_size: int = 640  # width of the 4:3 landscape images; height = 3/4 of it
    max_rotation_deg: float = 35.0  # at image 6
    max_log_scale: float = math.log(1.6)  # |log scale| at image 6
    max_perspective: float = 0.35  # largest tilt at image 6, as a share of the image width
    images: str | None = None  # a folder of photographs to use instead of scikit-image's; sequences=None: one each
    zoom_in: bool = False  # viewpoint sequences always zoom in (no reflected border when zooming out far)
    kinds: str = "iv"  # the kinds of sequence made, alternating: "iv", or only "i" / only "v"


def photograph(name: str) -> np.ndarray:
    """A scikit-image photograph as ``H×W×3`` RGB uint8."""
    import skimage.data

    if name.startswith("motorcycle_"):
        left, right, _ = skimage.data.stereo_motorcycle()
        image = left if name.endswith("left") else right
    else:
        image = getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8) if image.dtype.kind == "f" else image.astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    return np.ascontiguousarray(image[:, :, :3])


def photograph_file(path: str | os.PathLike) -> np.ndarray:
    """A photograph from a file as ``H×W×3`` RGB uint8 (16-bit scaled down, gray made RGB).

    Raises:
        BadInput: the file is missing or not a readable image.
    """
    image = read_image(path)
    if image.dtype == np.uint16:
        image = (image / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    return np.ascontiguousarray(image)


def _canvas(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The photograph scaled to cover ``size`` (w, h) plus ``MARGIN`` on each side, centre-cropped."""
    w, h = size
    cw, ch = int(round(w * (1 + 2 * MARGIN))), int(round(h * (1 + 2 * MARGIN)))
    ph, pw = photo.shape[:2]
    s = max(cw / pw, ch / ph)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    scaled = cv2.resize(photo, (max(cw, int(math.ceil(pw * s))), max(ch, int(math.ceil(ph * s)))),
                        interpolation=interp)
    y0, x0 = (scaled.shape[0] - ch) // 2, (scaled.shape[1] - cw) // 2
    return np.ascontiguousarray(scaled[y0:y0 + ch, x0:x0 + cw])


def photometric_change(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """An illumination change of ``strength`` in ``[0, 1]`` applied to an ``H×W×3`` uint8 image."""
    h, w = image.shape[:2]
    x = image.astype(np.float32) / 255.0
    gamma = math.exp(rng.uniform(-1, 1) * 1.0 * strength)
    x = x ** gamma
    contrast = math.exp(rng.uniform(-1, 1) * 0.5 * strength)
    brightness = rng.uniform(-1, 1) * 0.25 * strength
    gains = 1 + rng.uniform(-1, 1, 3) * 0.2 * strength  # colour balance
    mean = float(x.mean())
    x = ((x - mean) * contrast + mean + brightness) * gains.astype(np.float32)
    # shading: a smooth ramp across the image in a random direction, as from a moved light
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (math.cos(angle) * (xx / w - 0.5) + math.sin(angle) * (yy / h - 0.5)) + 0.5
    x = x * (1 - strength * rng.uniform(0.4, 0.7) * np.clip(ramp, 0, 1))[:, :, None]
    sigma = strength * rng.uniform(0.0, 1.5)
    if sigma > 0.3:
        x = cv2.GaussianBlur(x, (0, 0), sigma)
    x = x + rng.normal(0, 0.02 * strength, x.shape).astype(np.float32)
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def _about_centre(M: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    cx, cy = (size[0] - 1) / 2, (size[1] - 1) / 2
    T = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1.0]])
    return T @ M @ np.linalg.inv(T)


def viewpoint_homography(strength: float, direction: dict, size: tuple[int, int],
                         config: SynthHPatchesConfig, rng: np.random.Generator) -> np.ndarray:
    """``H_1_k`` of ``strength`` in ``[0, 1]``: rotation, scale, tilt and shift about the centre.

    ``direction`` holds the per-sequence signs and axes so that strength grows along one path.
    """
    w, h = size
    angle = math.radians(config.max_rotation_deg) * strength * direction["rotation"] * rng.uniform(0.8, 1.0)
    scale = math.exp(config.max_log_scale * strength * direction["scale"] * rng.uniform(0.8, 1.0))
    c, s = math.cos(angle), math.sin(angle)
    RS = np.array([[scale * c, -scale * s, 0], [scale * s, scale * c, 0], [0, 0, 1.0]])
    tilt = config.max_perspective * strength * rng.uniform(0.7, 1.0) / w
    P = np.array([[1, 0, 0], [0, 1, 0], [tilt * direction["tilt"][0], tilt * direction["tilt"][1], 1.0]])
    shift = rng.uniform(-1, 1, 2) * 0.05 * strength * np.array([w, h])
    T = np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1.0]])
    H = T @ _about_centre(P @ RS, size)
    return H / H[2, 2]


def _write_image(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")


def make_sequence(folder: Path, kind: str, photo: str | Path, index: int, config: SynthHPatchesConfig) -> None:
    """Write one sequence (six images, five homographies) into ``folder``; ``photo`` is the name of
    a scikit-image photograph or the path of an image file."""
    rng = np.random.default_rng([config.seed, index])
    size = (config.max_size, int(round(config.max_size * 3 / 4)))
    w, h = size
    canvas = _canvas(photograph_file(photo) if isinstance(photo, Path) else photograph(photo), size)
    ox, oy = (canvas.shape[1] - w) // 2, (canvas.shape[0] - h) // 2
    image1 = np.ascontiguousarray(canvas[oy:oy + h, ox:ox + w])
    _write_image(folder / "1.ppm", image1)
    # canvas pixel → image 1 pixel
    from_canvas = np.array([[1, 0, -ox], [0, 1, -oy], [0, 0, 1.0]])
    direction = {"rotation": rng.choice([-1, 1]), "scale": rng.choice([-1, 1]),
                 "tilt": rng.normal(size=2) / math.sqrt(2)}
    if config.zoom_in:  # after the draws, so that a seed's default set stays byte for byte what it was
        direction["scale"] = 1
    for k in IMAGE_INDICES[1:]:
        strength = (k - 1) / (len(IMAGE_INDICES) - 1)
        if kind == "i":
            H = np.eye(3)
            image = photometric_change(image1, strength, rng)
        else:
            H = viewpoint_homography(strength, direction, size, config, rng)
            warped = cv2.warpPerspective(canvas, H @ from_canvas, size, flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REFLECT101)
            image = photometric_change(warped, 0.15, rng)
        _write_image(folder / f"{k}.ppm", image)
        write_homography(folder / f"H_1_{k}", H)


def sequence_plan(config: SynthHPatchesConfig) -> list[tuple[str, str, str | Path]]:
    """``(name, kind, photograph)`` of each sequence: i_* and v_* alternate, photographs cycle.

    From scikit-image, each kind has its own photographs. From a folder (``config.images``), the
    photographs are taken in name order, each in turn, and a sequence is named after its file
    (``i_img_001``, ``v_img_002`` …); ``sequences=None`` makes one sequence per photograph.
    """
    if config.images is not None:
        files = list_images(config.images)
        count = len(files) if config.sequences is None else config.sequences
        plan = []
        for j in range(count):
            kind = config.kinds[j % len(config.kinds)]
            path = files[j % len(files)]
            suffix = "" if j < len(files) else f"_{j // len(files) + 1}"
            plan.append((f"{kind}_{path.stem}{suffix}", kind, path))
        return plan
    plan = []
    counts = {"i": 0, "v": 0}
    for j in range(16 if config.sequences is None else config.sequences):
        kind = config.kinds[j % len(config.kinds)]
        photos = ILLUMINATION_PHOTOS if kind == "i" else VIEWPOINT_PHOTOS
        n = counts[kind]
        counts[kind] += 1
        photo = photos[n % len(photos)]
        suffix = "" if n < len(photos) else f"_{n // len(photos) + 1}"
        plan.append((f"{kind}_{photo}{suffix}", kind, photo))
    return plan


def make_hpatches(out: str | os.PathLike, config: SynthHPatchesConfig = SynthHPatchesConfig(),
                  progress=None) -> dict:
    """Write a synthetic HPatches-format set into ``out``.

    Each sequence is written to a temporary folder and renamed into place, so an interrupted run
    leaves no half-written sequence; an existing sequence of the same name is replaced.

    Returns:
        ``{"out", "sequences", "i", "v", "image_size": [w, h], "config": {...}}``.
    """
    if config.sequences is not None and config.sequences < 1:
        raise BadInput(f"{config.sequences} sequences: must be at least 1", option="sequences")
    if not 64 <= config.max_size <= MAX_SYNTH_SIDE:
        raise BadInput(f"max_size {config.max_size}: expected 64 to {MAX_SYNTH_SIDE} px", option="max_size")
    if config.kinds not in SEQUENCE_KINDS:
        raise BadInput(f"kinds {config.kinds!r}: expected one of {', '.join(SEQUENCE_KINDS)}", option="kind")
    zoom = math.exp(config.max_log_scale)
    if not 1 <= zoom <= 4:  # NaN fails too
        raise BadInput(f"max zoom {zoom:g}: expected 1 to 4", option="max_zoom")
    if not 0 <= config.max_rotation_deg <= 180:
        raise BadInput(f"max rotation {config.max_rotation_deg:g}°: expected 0 to 180", option="max_rotation")
    out = output_dir(out)
    plan = sequence_plan(config)
    items = progress(plan, "synth hpatches") if progress else plan
    for j, (name, kind, photo) in enumerate(items):
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
        try:
            make_sequence(tmp, kind, photo, j, config)
            tmp.chmod(0o755)  # mkdtemp makes it private
            target = out / name
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    w = config.max_size
    return {"out": str(out), "sequences": len(plan), "i": sum(k == "i" for _, k, _ in plan),
            "v": sum(k == "v" for _, k, _ in plan), "image_size": [w, int(round(w * 3 / 4))],
            "names": [n for n, _, _ in plan], "photographs": [str(p) for _, _, p in plan],
            "config": asdict(config)}


__all__ = ["SEQUENCE_KINDS", "SynthHPatchesConfig", "make_hpatches", "make_sequence", "photometric_change",
           "viewpoint_homography", "sequence_plan", "photograph", "photograph_file"]
