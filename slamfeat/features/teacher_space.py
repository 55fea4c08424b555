"""The teacher's descriptor space of a distilled student, and the map into it.

A student distilled with the absolute-teacher loss (:func:`slamfeat.distill.losses.absolute_teacher`)
regresses its teacher's descriptors: directly when the sizes agree, through the loss's learned linear
projection ``Ds → Dt`` (re-normalised) when they differ. A matcher trained for the teacher (its
LightGlue) then matches the student's descriptors once they are mapped there.

Checkpoint keys (all optional, so that older files load; ``slamfeat distill`` writes them):

* ``teacher``: the teacher's registry name;
* ``teacher_dim``: the size ``Dt`` of the teacher's descriptors;
* ``descriptor_space``: ``teacher`` when the absolute loss had a positive weight, ``own`` when not
  (older files: read from the training configuration saved under ``config``);
* ``projection``: the state dict of ``Linear(Ds, Dt, bias=False)`` (key ``weight``, ``Dt×Ds``), ``{}``
  when the sizes agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import BadInput


@dataclass(frozen=True)
class TeacherSpace:
    """Where a student's descriptors live.

    Attributes:
        teacher: the teacher's name, None when the checkpoint records none.
        inherits: True when the descriptors were trained into the teacher's space (the absolute loss).
        projection: ``Dt×Ds`` float32 map into the teacher's space, None = identity.
        teacher_dim: ``Dt`` when known.
    """

    teacher: str | None = None
    inherits: bool = False
    projection: torch.Tensor | None = None
    teacher_dim: int | None = None


def absolute_weight(ckpt: dict[str, Any]) -> float | None:
    """The absolute loss's weight in the training configuration saved with a checkpoint (None: not saved)."""
    try:
        return float(json.loads(ckpt["config"])["losses"].get("absolute", 0.0))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def read_teacher_space(ckpt: dict[str, Any], descriptor_dim: int, path: str | Path = "checkpoint") -> TeacherSpace:
    """The :class:`TeacherSpace` a checkpoint records.

    Raises:
        BadInput: a projection that does not take ``descriptor_dim``-dimensional descriptors.
    """
    teacher = str(ckpt["teacher"]) if ckpt.get("teacher") else None
    space = ckpt.get("descriptor_space")
    if space is None:
        weight = absolute_weight(ckpt)
        space = "teacher" if weight is not None and weight > 0 else "own"
    projection = (ckpt.get("projection") or {}).get("weight")
    if projection is not None:
        projection = torch.as_tensor(projection).detach().float().cpu()
        if projection.dim() != 2 or projection.shape[1] != descriptor_dim:
            raise BadInput(f"{path}: the teacher-space projection has shape {tuple(projection.shape)}, "
                           f"expected Dt×{descriptor_dim}")
    teacher_dim = int(projection.shape[0]) if projection is not None else ckpt.get("teacher_dim")
    return TeacherSpace(teacher, space == "teacher" and teacher is not None, projection,
                        int(teacher_dim) if teacher_dim is not None else None)


def teacher_space_record(teacher: str | None, teacher_dim: int | None, absolute: float,
                         projection: torch.nn.Module | None) -> dict[str, Any]:
    """The checkpoint keys above, for a student trained from ``teacher`` with absolute-loss weight ``absolute``."""
    return {"teacher": teacher, "teacher_dim": teacher_dim,
            "descriptor_space": "teacher" if absolute > 0 else "own",
            "projection": ({k: v.detach().cpu().clone() for k, v in projection.state_dict().items()}
                           if projection is not None else {})}


class TeacherSpaceMixin:
    """What a student extractor offers a teacher-space matcher: ``teacher`` and ``to_teacher_space``."""

    _teacher_space: TeacherSpace = TeacherSpace()

    @property
    def teacher_space(self) -> TeacherSpace:
        return self._teacher_space

    @property
    def teacher(self) -> str | None:
        """The name of the teacher the student was distilled from (None when not recorded)."""
        return self._teacher_space.teacher

    def set_teacher_space(self, space: TeacherSpace) -> None:
        self._teacher_space = space

    def to_teacher_space(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``N×Ds`` unit descriptors → ``N×Dt`` unit descriptors in the teacher's space: the absolute loss's
        projection, re-normalised as in training (the descriptors as they are without a projection)."""
        w = self._teacher_space.projection
        if w is None:
            return descriptors
        return F.normalize(descriptors.float() @ w.to(descriptors.device).t(), dim=-1)
