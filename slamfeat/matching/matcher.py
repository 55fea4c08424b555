"""The matcher a user picks: mutual nearest neighbours (``nn``) or LightGlue, with the options of each.

A :class:`Matcher` is built from a :class:`MatcherConfig` and the features it will see (an extractor or
its name): that decides the nearest-neighbour defaults users expect for the descriptors (SIFT: Lowe's
ratio 0.8 as COLMAP and hloc; binary descriptors: Hamming distance) and, for LightGlue, the weights
(the features' own, or for a distilled student its teacher's, with the student's descriptors mapped
into the teacher's space; see :mod:`slamfeat.features.teacher_space`). ``describe()`` is what reports
name.

Example:
    >>> matcher = Matcher(MatcherConfig("lightglue"), "slamfeat-base")
    >>> matches0, scores0 = matcher.match(f0, f1)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from ..errors import BadInput
from ..features import Extractor, Features, REGISTRY, resolve_device
from ..features.teacher_space import read_teacher_space
from ..features.weights import PACKAGE_WEIGHTS
from ..io.checkpoint import read_checkpoint
from .batched import match_many
from .lightglue import load_lightglue, released_for

MATCHERS = ("nn", "lightglue")
# the LightGlue of features whose extractor is not known (``slamfeat match`` without --features-model)
DEFAULT_LIGHTGLUE_FEATURES = "disk"


@dataclass(frozen=True)
class MatcherConfig:
    """A matcher and its options; each field is one command-line flag.

    Attributes:
        name: ``nn`` (nearest neighbours) or ``lightglue``.
        mutual: nn: keep mutual nearest neighbours only.
        ratio: nn: Lowe's ratio threshold in (0, 1] (1 = no test); None = the features' default
            (0.8 for SIFT, no test otherwise).
        distance_threshold: nn: largest L2 distance (floats) or number of differing bits (binary).
        filter_threshold: lightglue: the match-probability threshold.
        weights: lightglue: a weights file instead of the features' own.
        max_memory_mb: nn: bound of a similarity chunk.
    """

    name: str = "nn"
    mutual: bool = True
    ratio: float | None = None
    distance_threshold: float | None = None
    filter_threshold: float = 0.1
    weights: str | None = None
    max_memory_mb: float = 256

    def check(self) -> "MatcherConfig":
        """Raise :class:`BadInput` for an unknown matcher or an option out of range; returns itself."""
        if self.name not in MATCHERS:
            raise BadInput(f"matcher {self.name!r}: expected one of {', '.join(MATCHERS)}")
        if self.ratio is not None and not 0 < self.ratio <= 1:
            raise BadInput(f"ratio {self.ratio:g}: expected a value in (0, 1] (1 = no ratio test)")
        if self.distance_threshold is not None and not self.distance_threshold >= 0:
            raise BadInput(f"distance threshold {self.distance_threshold:g}: expected a value ≥ 0")
        if not 0 <= self.filter_threshold <= 1:  # NaN fails too
            raise BadInput(f"filter threshold {self.filter_threshold:g}: expected a probability in [0, 1]")
        if not self.max_memory_mb > 0:  # NaN fails too
            raise BadInput(f"max_memory_mb {self.max_memory_mb:g}: expected a positive budget")
        return self


@dataclass(frozen=True)
class FeatureKind:
    """What a matcher needs to know about features: their name, the nn defaults, their LightGlue.

    ``lightglue`` names the LightGlue weights (an extractor name of :func:`~.lightglue.released_for`) or is
    None, and then ``no_lightglue`` says why in one line; ``to_lightglue`` maps ``N×D`` descriptors into
    that LightGlue's space (None = as they are).
    """

    name: str | None
    descriptor_dim: int | None = None
    nn_defaults: dict | None = None
    lightglue: str | None = None
    to_lightglue: Callable[[Tensor], Tensor] | None = None
    no_lightglue: str | None = None
    teacher: str | None = None


def _teacher_kind(label: str, dim: int, space) -> FeatureKind:
    """The :class:`FeatureKind` of a student with a :class:`~slamfeat.features.teacher_space.TeacherSpace`."""
    base = dict(name=label, descriptor_dim=dim, nn_defaults={}, teacher=space.teacher)
    if space.teacher is None:
        return FeatureKind(**base, no_lightglue=f"{label}: a student without a recorded teacher has no LightGlue; "
                                                 f"use the nn matcher, or a student written by slamfeat distill")
    if not space.inherits:
        return FeatureKind(**base, no_lightglue=f"{label}: distilled from {space.teacher} without the absolute loss, "
                                                 f"so its descriptors are not in the teacher's space and its LightGlue "
                                                 f"does not apply; use the nn matcher")
    try:
        released = released_for(space.teacher)
    except BadInput:
        return FeatureKind(**base, no_lightglue=f"{label}: its teacher {space.teacher} has no LightGlue; use the nn matcher")
    teacher_dim = space.teacher_dim or (REGISTRY[space.teacher].descriptor_dim if space.teacher in REGISTRY else None)
    if space.projection is None and teacher_dim is not None and teacher_dim != dim:
        return FeatureKind(**base, no_lightglue=f"{label}: {dim}-D descriptors, and the checkpoint holds no projection "
                                                 f"into its teacher {space.teacher}'s {teacher_dim}-D space (a file "
                                                 f"shipped without it); use the nn matcher or a checkpoint that keeps it")
    out_dim = space.projection.shape[0] if space.projection is not None else dim
    if out_dim != released.input_dim:
        return FeatureKind(**base, no_lightglue=f"{label}: its teacher's space is {out_dim}-D and {released.weights} "
                                                 f"is LightGlue for {released.input_dim}-D descriptors; use the nn matcher")
    w = space.projection

    def to_teacher(d: Tensor) -> Tensor:
        return torch.nn.functional.normalize(d.float() @ w.to(d.device).t(), dim=-1)
    return FeatureKind(**base, lightglue=space.teacher, to_lightglue=to_teacher if w is not None else None)


def _registry_kind(name: str, info) -> FeatureKind:
    kind = dict(name=name, descriptor_dim=info.descriptor_dim, nn_defaults=dict(info.matcher_defaults))
    try:
        released = released_for(name)
    except BadInput as e:
        return FeatureKind(**kind, no_lightglue=str(e))
    if info.descriptor_dim != released.input_dim:
        return FeatureKind(**kind, no_lightglue=f"matcher lightglue: {released.weights} is LightGlue for "
                                                 f"{released.input_dim}-D descriptors, {name}'s are {info.descriptor_dim}-D; "
                                                 f"use the nn matcher")
    return FeatureKind(**kind, lightglue=name)


@lru_cache(maxsize=32)
def _kind_of_name(name: str) -> FeatureKind:
    info = REGISTRY.get(name)
    if info is not None and info.kind != "student":
        return _registry_kind(name, info)
    path = PACKAGE_WEIGHTS / f"{name}.pt" if info is not None else Path(name)
    ckpt = read_checkpoint(path)
    dim = int(ckpt["arch_conf"].get("descriptor_dim", 0))
    return _teacher_kind(name, dim, read_teacher_space(ckpt, dim, path))


def feature_kind(model: str | Extractor | None) -> FeatureKind:
    """The :class:`FeatureKind` of an extractor, a registry name or a student checkpoint path (None: unknown)."""
    if model is None:
        return FeatureKind(None, nn_defaults={})
    if isinstance(model, Extractor):
        space = getattr(model, "teacher_space", None)
        if space is not None:
            return _teacher_kind(str(model.name), int(model.descriptor_dim), space)
        info = REGISTRY.get(model.name)
        if info is not None:
            return _registry_kind(model.name, info)
        return FeatureKind(model.name, int(model.descriptor_dim), {},
                           no_lightglue=f"{model.name}: no LightGlue for these features; use the nn matcher")
    name = str(model)
    if name not in REGISTRY and not (name.endswith((".pt", ".pth")) or Path(name).is_file()):
        raise BadInput(f"unknown model {name!r}; known: {', '.join(REGISTRY)} or a student checkpoint PATH.pt")
    return _kind_of_name(name)


class Matcher:
    """Matches pairs of :class:`Features` as a :class:`MatcherConfig` says, for the features of ``model``.

    Args:
        config: the matcher and its options (checked here).
        model: the extractor that makes the features, its registry name or a checkpoint path; None when not
            known (no nn defaults; LightGlue then takes ``disk``'s weights).
        device: ``auto``, ``cpu``, ``cuda`` (None = auto).

    Raises:
        BadInput: options out of range; ``lightglue`` for features that have none (one line naming what works).
    """

    def __init__(self, config: MatcherConfig | None = None, model: str | Extractor | None = None,
                 device: str | torch.device | None = None) -> None:
        self.config = (config or MatcherConfig()).check()
        self.kind = feature_kind(model)
        self.device = resolve_device(device)
        self.ratio = self.config.ratio if self.config.ratio is not None else (self.kind.nn_defaults or {}).get("ratio")
        self.lightglue = None
        if self.config.name == "lightglue":
            features = self.kind.lightglue
            if features is None and self.kind.name is None:
                features = DEFAULT_LIGHTGLUE_FEATURES
            if features is None:
                raise BadInput(self.kind.no_lightglue or f"{self.kind.name}: no LightGlue; use the nn matcher",
                               option="matcher")
            self.lightglue = load_lightglue(features, self.config.weights, self.config.filter_threshold, str(self.device))

    def _nn_options(self) -> dict[str, Any]:
        c = self.config
        return {"mutual": c.mutual, "ratio": None if self.ratio in (None, 1.0) else self.ratio,
                "distance_threshold": c.distance_threshold, "max_memory_mb": c.max_memory_mb}

    def _in_lightglue_space(self, f: Features) -> Features:
        if self.kind.to_lightglue is None:
            return f
        d = self.kind.to_lightglue(f.descriptors) if len(f) else f.descriptors.new_zeros(0, self.lightglue.descriptor_dim)
        return Features(f.keypoints, f.scores, d, f.image_size, f.binary)

    def match(self, f0: Features, f1: Features) -> tuple[Tensor, Tensor]:
        """``matches0`` (N0 int64, −1 unmatched) and ``matching_scores0`` (N0 float32), on the CPU."""
        return self.match_many([(f0, f1)], batch_size=1)[0]

    def match_many(self, pairs: Sequence[tuple[Features, Features]], batch_size: int = 16) -> list[tuple[Tensor, Tensor]]:
        """The matches of many pairs, in their order (batched: padded for nn, equal sizes for LightGlue)."""
        if self.lightglue is None:
            return match_many(pairs, batch_size=batch_size, device=self.device, **self._nn_options())
        mapped = [(self._in_lightglue_space(f0), self._in_lightglue_space(f1)) for f0, f1 in pairs]
        return self.lightglue.match_many(mapped, batch_size=batch_size)

    __call__ = match

    def describe(self) -> dict[str, Any]:
        """What a report says about the matcher: its name and the options in force."""
        if self.lightglue is None:
            return {"name": "nn", **self._nn_options(), "ratio": self.ratio,
                    "ratio_is_default": self.config.ratio is None and self.ratio is not None}
        out = {"name": "lightglue", "weights": self.lightglue.weights_path.name,
               "filter_threshold": self.config.filter_threshold, "depth_confidence": self.lightglue.net.conf.depth_confidence,
               "width_confidence": self.lightglue.net.conf.width_confidence}
        if self.kind.teacher is not None:
            out["teacher"] = self.kind.teacher
            out["teacher_space"] = "projection" if self.kind.to_lightglue is not None else "identity"
        return out


__all__ = ["MATCHERS", "MatcherConfig", "Matcher", "FeatureKind", "feature_kind"]
