"""slamfeat: distilled keypoint detector-descriptors, batched matching, visual odometry and
reconstruction.

Four lines to match two images::

    import slamfeat
    extractor = slamfeat.load_extractor("disk")
    f0, f1 = extractor.extract("a.png"), extractor.extract("b.png")
    matches0, scores0 = slamfeat.match_features(f0, f1)
"""

from .errors import BadInput
from .features import Features, Extractor, list_models, load_extractor
from .io import read_image

__version__ = "0.1.0"


def match_features(f0, f1, **options):
    """Mutual-nearest-neighbour matches of two :class:`Features` (see :mod:`slamfeat.matching`)."""
    from .matching import match_pair
    return match_pair(f0, f1, **options)


__all__ = ["BadInput", "Features", "Extractor", "list_models", "load_extractor", "read_image", "match_features"]
