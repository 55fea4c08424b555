"""Image-pair lists: made (exhaustive, or each image with the next K), read and written.

Two formats, one pair a line, ``#`` lines are comments:

* a pair list (``slamfeat pairs``, ``match --pairs``): ``name0 name1``, hloc's format. A name with a
  space (or any whitespace), or one that starts with ``"`` or ``#``, is written in double quotes
  with ``\\`` and ``\"`` escaped inside (``"IMG 001.jpg" IMG_002.jpg``); every other name is
  written as it is, so files of names without spaces stay exactly hloc's;
* pairs with ground truth (``eval pairs``), whitespace-separated, the format of SuperGlue's
  relative-pose files::

      name0 name1 rot0 rot1 K0(9 values, row-major) K1(9) T_0to1(16, row-major)

  ``rot0``/``rot1`` are the quarter turns (counter-clockwise, as ``np.rot90``) that make each image
  upright; ``K`` and ``T_0to1`` refer to the images as stored (unrotated). ``T_0to1`` maps camera-0
  coordinates to camera-1 coordinates (OpenCV camera axes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import BadInput
from .files import input_file, write_text_atomic


def exhaustive_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair ``(names[i], names[j])``, i < j."""
    return list(combinations(names, 2))


def sequential_pairs(names: Sequence[str], k: int) -> list[tuple[str, str]]:
    """Each image with the next ``k`` images in order (video frames, sorted photos)."""
    if k < 1:
        raise BadInput(f"sequential:{k}: K must be at least 1")
    return [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, min(i + 1 + k, len(names)))]


def pairs_from_mode(names: Sequence[str], mode: str) -> list[tuple[str, str]]:
    """Pairs for ``exhaustive`` or ``sequential:K``."""
    if mode == "exhaustive":
        return exhaustive_pairs(names)
    if mode.startswith("sequential"):
        _, _, k = mode.partition(":")
        try:
            count = int(k) if k else 5
        except ValueError:
            raise BadInput(f"pair mode {mode!r}: expected sequential:K with an integer K", option="mode") from None
        return sequential_pairs(names, count)
    raise BadInput(f"pair mode {mode!r}: expected exhaustive or sequential:K", option="mode")


def quote_name(name: str) -> str:
    """An image name as a pairs file writes it (quoted only when it must be, see the module)."""
    if name and not any(c.isspace() for c in name) and name[0] not in '"#':
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_pair_line(line: str) -> list[str]:
    """The names of one pairs-file line (quoted names unquoted).

    Raises:
        ValueError: a quote that is not closed.
    """
    names, i, n = [], 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
        elif line[i] == '"':
            j, chars = i + 1, []
            while j < n and line[j] != '"':
                if line[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(line[j])
                j += 1
            if j >= n:
                raise ValueError("a quoted name is not closed")
            names.append("".join(chars))
            i = j + 1
        else:
            j = i
            while j < n and not line[j].isspace():
                j += 1
            names.append(line[i:j])
            i = j
    return names


def format_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f"{quote_name(a)} {quote_name(b)}\n" for a, b in pairs)


def read_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """An image-pair list, one ``name0 name1`` a line (``#`` comments; names with spaces in double
    quotes, see this module).

    Raises:
        BadInput: a missing or non-UTF-8 file, or a line without exactly two names.
    """
    path = input_file(path, "pairs file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not a UTF-8 text file (byte {e.start}); a pairs file is UTF-8 text") from None
    pairs = []
    for i, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            parts = split_pair_line(line)
        except ValueError as e:
            raise BadInput(f"{path}:{i}: {e}: {line!r}") from None
        if len(parts) != 2:
            raise BadInput(f"{path}:{i}: expected two names 'name0 name1' (quote a name with spaces), "
                           f"got {len(parts)}: {line!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


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


def format_pose_pair(pair: PosePair) -> str:
    values = [*np.asarray(pair.K0).reshape(9), *np.asarray(pair.K1).reshape(9), *np.asarray(pair.T_0to1).reshape(16)]
    return " ".join([pair.name0, pair.name1, str(int(pair.rot0)), str(int(pair.rot1))] + [f"{v:.12g}" for v in values])


def write_pose_pairs(path: str | os.PathLike, pairs: Sequence[PosePair]) -> Path:
    """Write pairs atomically, one a line; returns the path."""
    write_text_atomic(path, "".join(format_pose_pair(p) + "\n" for p in pairs))
    return Path(path)


def read_pose_pairs(path: str | os.PathLike) -> list[PosePair]:
    """Read a pairs file with ground truth.

    Raises:
        BadInput: missing file, a line without 38 fields, a value that is not a number, a
            rotation outside 0–3, or no pairs at all.
    """
    path = input_file(path, "pairs file")
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


__all__ = ["exhaustive_pairs", "sequential_pairs", "pairs_from_mode", "quote_name", "split_pair_line", "format_pairs",
           "read_pairs", "PosePair", "format_pose_pair", "write_pose_pairs", "read_pose_pairs"]
