"""Image-pair lists for matching: exhaustive or sequential (each image with the next K).

A pairs file holds one ``name0 name1`` a line, hloc's format. A name with a space (or any
whitespace), or one that starts with ``"`` or ``#``, is written in double quotes with ``\\``
and ``\"`` escaped inside (``"IMG 001.jpg" IMG_002.jpg``); every other name is written as it is,
so files of names without spaces stay exactly hloc's.
"""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

from .errors import BadInput


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
            raise BadInput(f"--mode {mode}: expected sequential:K with an integer K") from None
        return sequential_pairs(names, count)
    raise BadInput(f"--mode {mode}: expected exhaustive or sequential:K")


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
