"""slamfeat: distilled keypoint detector-descriptors, batched matching, visual odometry and
reconstruction.

Four lines to match two images::

    import slamfeat
    extractor = slamfeat.load_extractor("disk")
    f0, f1 = extractor.extract("a.png"), extractor.extract("b.png")
    matches0, scores0 = slamfeat.match_features(f0, f1)  # or (f0, f1, "lightglue", model=extractor)
"""

from __future__ import annotations

import importlib

from .errors import BadInput

__version__ = "0.1.0"

# the public names, imported on first use so that `slamfeat --help` does not wait for torch
_LAZY = {
    "Features": "features", "Extractor": "features", "list_models": "features", "load_extractor": "features",
    "read_image": "io",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'slamfeat' has no attribute {name!r}")


def match_features(f0, f1, matcher: str = "nn", *, model=None, device=None, **options):
    """Matches of two :class:`Features`: ``matches0`` (N0 int64, −1 unmatched) and ``matching_scores0`` (N0).

    Args:
        matcher: ``nn`` (mutual nearest neighbours) or ``lightglue``.
        model: the extractor that made the features (or its name / checkpoint path): picks the
            defaults of its descriptors (SIFT: ratio 0.8) and its LightGlue (a student's: its teacher's).
        options: :class:`slamfeat.matching.MatcherConfig` fields: ``mutual``, ``ratio`` (1 = none),
            ``distance_threshold``, ``filter_threshold``, ``weights``, ``max_memory_mb``.
    """
    from .matching import Matcher, MatcherConfig
    known = set(MatcherConfig.__dataclass_fields__) - {"name"}
    unknown = set(options) - known
    if unknown:
        raise BadInput(f"match_features: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
    return Matcher(MatcherConfig(matcher, **options), model, device).match(f0, f1)


__all__ = ["BadInput", "Features", "Extractor", "list_models", "load_extractor", "read_image", "match_features"]
