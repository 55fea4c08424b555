"""The HPatches sequences release (Balntas et al., CVPR 2017), as published.

Layout: one folder per sequence, ``i_*`` (illumination change, the homographies are near the
identity) and ``v_*`` (viewpoint change); in each, images ``1.ppm … 6.ppm`` and text files
``H_1_2 … H_1_6`` holding the ``3×3`` homography from image 1 to image k (whitespace-separated
numbers, three to a row). Evaluation pairs are ``(1, k)`` for ``k = 2…6``.

Homographies map pixel ``(x, y)`` of image 1 to image k with ``(0, 0)`` the centre of the top-left
pixel (OpenCV's convention, slamfeat's too). Every file is checked when the dataset is loaded, so
a broken set fails before any work starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import BadInput
from ..io import read_image

IMAGE_INDICES = (1, 2, 3, 4, 5, 6)
IMAGE_SUFFIXES = (".ppm", ".png", ".jpg", ".jpeg", ".pgm")
# The sequences of very large images (over 1600×1200) that D2-Net's protocol leaves out.
LARGE_SEQUENCES = frozenset({
    "i_contruction", "i_crownnight", "i_dc", "i_pencils", "i_whitebuilding",
    "v_artisans", "v_astronautis", "v_talent",
})


@dataclass(frozen=True)
class HPatchesSequence:
    """One sequence: six image paths and the homographies ``H_1_k`` from image 1 to image k."""

    name: str
    folder: Path
    images: tuple[Path, ...]  # images[k - 1] is image k
    homographies: dict[int, np.ndarray] = field(repr=False)  # k → 3×3 float64, k = 2…6

    @property
    def kind(self) -> str:
        """``"i"`` (illumination) or ``"v"`` (viewpoint)."""
        return self.name[0]

    def pairs(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(1, k, H_1_k)`` for ``k = 2…6``."""
        for k in IMAGE_INDICES[1:]:
            yield 1, k, self.homographies[k]


def read_homography(path: str | os.PathLike) -> np.ndarray:
    """A ``3×3`` homography from a text file (HPatches' ``H_1_k``).

    Raises:
        BadInput: missing, unreadable, not 3×3 numbers, not finite or singular.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: missing homography file")
    try:
        text = path.read_text()
        values = [float(v) for v in text.replace(",", " ").split()]
    except (OSError, UnicodeDecodeError, ValueError):
        raise BadInput(f"{path}: unreadable homography file (expected 3×3 numbers)") from None
    if len(values) != 9:
        raise BadInput(f"{path}: unreadable homography file (expected 3×3 numbers, found {len(values)} values)")
    H = np.array(values, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(H)) or abs(np.linalg.det(H)) < 1e-12:
        raise BadInput(f"{path}: homography is not finite or singular")
    return H


def write_homography(path: str | os.PathLike, H: np.ndarray) -> None:
    """Write a ``3×3`` homography as HPatches does: three rows of whitespace-separated numbers."""
    rows = [" ".join(f"{v:.10g}" for v in row) for row in np.asarray(H, dtype=np.float64)]
    Path(path).write_text("\n".join(rows) + "\n")


def _find_image(folder: Path, index: int) -> Path:
    for suffix in IMAGE_SUFFIXES:
        p = folder / f"{index}{suffix}"
        if p.is_file():
            return p
    raise BadInput(f"{folder / f'{index}.ppm'}: missing image")


def load_sequence(folder: str | os.PathLike) -> HPatchesSequence:
    """Check and load one sequence folder (images found, homographies read)."""
    folder = Path(folder)
    images = tuple(_find_image(folder, k) for k in IMAGE_INDICES)
    homographies = {k: read_homography(folder / f"H_1_{k}") for k in IMAGE_INDICES[1:]}
    return HPatchesSequence(folder.name, folder, images, homographies)


def load_hpatches(root: str | os.PathLike, exclude_large: bool = False, kinds: Sequence[str] = ("i", "v"),
                  names: Sequence[str] | None = None) -> list[HPatchesSequence]:
    """All sequences of an HPatches-format folder, sorted by name.

    Args:
        root: the folder holding the ``i_*`` and ``v_*`` sequence folders.
        exclude_large: leave out :data:`LARGE_SEQUENCES`, as D2-Net's protocol does.
        kinds: which kinds to keep (``"i"``, ``"v"``).
        names: keep only these sequence names.
    Raises:
        BadInput: the root is missing or holds no sequence, or a sequence misses a file.
    """
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"{root}: no such HPatches folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name[:2] in ("i_", "v_"))
    if not folders:
        raise BadInput(f"{root}: no HPatches sequences (folders i_* or v_*) in this folder")
    if names is not None:
        unknown = set(names) - {p.name for p in folders}
        if unknown:
            raise BadInput(f"{root}: no sequence named {sorted(unknown)[0]!r}")
        folders = [p for p in folders if p.name in set(names)]
    folders = [p for p in folders if p.name[0] in kinds]
    if exclude_large:
        folders = [p for p in folders if p.name not in LARGE_SEQUENCES]
    return [load_sequence(p) for p in folders]


def verify_images(sequences: Sequence[HPatchesSequence]) -> None:
    """Decode every image once, so that a corrupt file fails before any work starts.

    Raises:
        BadInput: naming the first image OpenCV cannot read.
    """

    for sequence in sequences:
        for path in sequence.images:
            read_image(path)


__all__ = ["HPatchesSequence", "verify_images", "LARGE_SEQUENCES", "IMAGE_INDICES", "read_homography", "write_homography",
           "load_sequence", "load_hpatches"]
