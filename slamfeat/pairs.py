"""Image-pair lists for matching: exhaustive or sequential (each image with the next K)."""

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
            return sequential_pairs(names, int(k) if k else 5)
        except ValueError:
            raise BadInput(f"--mode {mode}: expected sequential:K with an integer K") from None
    raise BadInput(f"--mode {mode}: expected exhaustive or sequential:K")


def format_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f"{a} {b}\n" for a, b in pairs)
