"""slamfeat: distilled keypoint detector-descriptors, batched matching, visual odometry and
reconstruction.

Four lines to match two images::

    import slamfeat
    extractor = slamfeat.load_extractor("disk")
    f0, f1 = extractor.extract("a.png"), extractor.extract("b.png")
    matches0, scores0 = slamfeat.match_features(f0, f1)
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


def match_features(f0, f1, **options):
    """Mutual-nearest-neighbour matches of two :class:`Features` (see :mod:`slamfeat.matching`)."""
    from .matching import match_pair
    return match_pair(f0, f1, **options)


__all__ = ["BadInput", "Features", "Extractor", "list_models", "load_extractor", "read_image", "match_features"]
