"""The embedded default sequence: rendered once into the cache, then reused.

``${SLAMFEAT_CACHE:-~/.cache/slamfeat}/default_sequence`` (and ``hard_sequence``) hold AirSim
recordings made by :func:`slamfeat.synth.airsim.render_sequence`. Rendering goes to a temporary
folder beside the target that is renamed into place, so an interrupted render never leaves a
half-written sequence and two runs racing each other both end with a complete one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..synth.airsim import render_sequence

SEQUENCES = {
    # name: (preset, frames, seed, (w, h), fov)
    "default": ("default", 200, 0, (640, 480), 90.0),
    "hard": ("hard", 200, 1, (640, 480), 90.0),
}


def cache_dir() -> Path:
    return Path(os.environ.get("SLAMFEAT_CACHE") or Path.home() / ".cache" / "slamfeat")


def sequence_path(name: str = "default") -> Path:
    return cache_dir() / f"{name}_sequence"


def default_sequence(name: str = "default") -> Path:
    """The folder of the named embedded sequence, rendering it first when it is not cached."""
    target = sequence_path(name)
    if (target / "airsim_rec.txt").is_file():
        return target
    preset, frames, seed, size, fov = SEQUENCES[name]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        render_sequence(tmp, frames=frames, seed=seed, size=size, fov_deg=fov, preset=preset)
        if target.exists() and not (target / "airsim_rec.txt").is_file():
            shutil.rmtree(target)  # a leftover without its index is not a sequence
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "airsim_rec.txt").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
