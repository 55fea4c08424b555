"""Image pairs with known intrinsics and relative pose, in the format SuperGlue published.

One pair a line, whitespace-separated::

    name0 name1 rot0 rot1 K0(9 values, row-major) K1(9) T_0to1(16, row-major)

``rot0``/``rot1`` are the quarter turns (counter-clockwise, as ``np.rot90``) that make each image
upright; ``K`` and ``T_0to1`` refer to the images as stored (unrotated). ``T_0to1`` maps camera-0
coordinates to camera-1 coordinates (OpenCV camera axes). Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import BadInput
from ..io import write_text_atomic


@dataclass
class PosePair:
    """Two images with their intrinsics (3×3), rotations (quarter turns) and ``T_0to1`` (4×4)."""

    name0: str
    name1: str
    rot0: int
    rot1: int
    K0: np.ndarray
    K1: np.ndarray
    T_0to1: np.ndarray


def format_pair(pair: PosePair) -> str:
    values = [*np.asarray(pair.K0).reshape(9), *np.asarray(pair.K1).reshape(9), *np.asarray(pair.T_0to1).reshape(16)]
    return " ".join([pair.name0, pair.name1, str(int(pair.rot0)), str(int(pair.rot1))] + [f"{v:.12g}" for v in values])


def write_pairs(path: str | os.PathLike, pairs: Sequence[PosePair]) -> Path:
    """Write pairs atomically, one a line; returns the path."""
    write_text_atomic(path, "".join(format_pair(p) + "\n" for p in pairs))
    return Path(path)


def read_pairs(path: str | os.PathLike) -> list[PosePair]:
    """Read a pairs file.

    Raises:
        BadInput: missing file, a line without 38 fields, a value that is not a number, a
            rotation outside 0–3, or no pairs at all.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such pairs file")
    pairs = []
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 38:
            raise BadInput(f"{path}:{n}: {len(fields)} fields, expected 38 (name0 name1 rot0 rot1 K0(9) K1(9) T_0to1(16))")
        try:
            rot0, rot1 = int(fields[2]), int(fields[3])
            values = np.array([float(v) for v in fields[4:]])
        except ValueError:
            raise BadInput(f"{path}:{n}: rotations and matrices must be numbers") from None
        if rot0 not in range(4) or rot1 not in range(4):
            raise BadInput(f"{path}:{n}: rotations must be 0, 1, 2 or 3 quarter turns")
        if not np.all(np.isfinite(values)):
            raise BadInput(f"{path}:{n}: non-finite value")
        K0, K1, T = values[:9].reshape(3, 3), values[9:18].reshape(3, 3), values[18:].reshape(4, 4)
        for which, K in (("K0", K0), ("K1", K1)):
            if not (K[0, 0] > 0 and K[1, 1] > 0 and np.allclose(K[2], [0, 0, 1])):
                raise BadInput(f"{path}:{n}: {which} is not a camera matrix (fx, fy > 0, last row 0 0 1)")
        R = T[:3, :3]
        if not (np.allclose(T[3], [0, 0, 0, 1]) and np.allclose(R @ R.T, np.eye(3), atol=1e-2)
                and np.linalg.det(R) > 0):
            raise BadInput(f"{path}:{n}: T_0to1 is not a rigid motion (rotation and translation, last row 0 0 0 1)")
        pairs.append(PosePair(fields[0], fields[1], rot0, rot1, K0, K1, T))
    if not pairs:
        raise BadInput(f"{path}: no pairs")
    return pairs


__all__ = ["PosePair", "read_pairs", "write_pairs", "format_pair"]
