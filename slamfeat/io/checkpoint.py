"""The student checkpoint format (``*.pt``): what ``slamfeat distill`` writes, ``slamfeat export
--format checkpoint`` ships and :func:`slamfeat.features.student.load_student` reads.

A checkpoint is a dictionary of plain values and tensors, loadable with ``weights_only=True``:
``format`` (``"slamfeat-student"``), ``version``, ``arch`` (the architecture's name),
``arch_conf`` (its widths), ``state_dict`` (the network's tensors), ``conf`` (the extractor
options it was saved with), and what training adds: ``step``, ``config`` (the run's settings as JSON),
``optimizer`` (dropped when shipped) and the teacher's space (``teacher``, ``teacher_dim``,
``descriptor_space``, ``projection``: :mod:`slamfeat.features.teacher_space`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import BadInput
from .files import atomic_path, input_file

CHECKPOINT_FORMAT = "slamfeat-student"
TRAINING_STATE = ("optimizer",)  # the absolute loss's projection stays: it maps into the teacher's space


def student_checkpoint(model, **extra: Any) -> dict[str, Any]:
    """The dictionary that a student ``*.pt`` file holds for a student extractor ``model``
    (anything with ``arch``, ``arch_conf`` and ``net``); ``extra``: training state, metadata."""
    return {"format": CHECKPOINT_FORMAT, "version": 1, "arch": model.arch, "arch_conf": dict(model.arch_conf),
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.net.state_dict().items()}, **extra}


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a student checkpoint file.

    Raises:
        BadInput: missing, unreadable, or not a slamfeat student checkpoint.
    """
    path = input_file(path, "student checkpoint file")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a corrupt file
        raise BadInput(f"{path}: not a readable checkpoint (corrupt or truncated: {type(e).__name__})") from None
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT or "state_dict" not in obj:
        raise BadInput(f"{path}: not a slamfeat student checkpoint (write one with slamfeat distill)")
    if not isinstance(obj.get("arch"), str) or not isinstance(obj.get("arch_conf"), dict):
        raise BadInput(f"{path}: unknown student architecture {obj.get('arch')!r}")
    return obj


def write_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> Path:
    """Write a checkpoint dictionary atomically (a reader never sees half a file); returns the path."""
    with atomic_path(path) as tmp:
        torch.save(checkpoint, str(tmp))
    return Path(path)


def ship_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, **conf: Any) -> Path:
    """Copy a trained student without its optimiser state (what ships in the package); ``conf``
    overrides the extractor options saved with it (e.g. ``detection_threshold``). The absolute loss's
    projection stays: it maps the descriptors into the teacher's space for the teacher's LightGlue."""
    ckpt = read_checkpoint(src)
    keep = {k: v for k, v in ckpt.items() if k not in TRAINING_STATE}
    keep["conf"] = {**(ckpt.get("conf") or {}), **conf}
    keep["state_dict"] = {k: v.clone() for k, v in ckpt["state_dict"].items()}
    return write_checkpoint(dst, keep)


__all__ = ["CHECKPOINT_FORMAT", "student_checkpoint", "read_checkpoint", "write_checkpoint", "ship_checkpoint"]
