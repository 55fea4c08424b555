"""Matching local features: batched nearest neighbours (mutual, ratio, distance) and LightGlue.

Example:
    >>> matches0, scores0 = match_pair(f0, f1, ratio=0.9)
    >>> pairs = matches_to_indices(matches0)  # M×2 (i0, i1)
    >>> matcher = Matcher(MatcherConfig("lightglue"), "slamfeat-base")  # the teacher's LightGlue
    >>> matches0, scores0 = matcher.match(f0, f1)
"""

from .nearest_neighbour import METRICS, match_batch
from .matcher import MATCHERS, Matcher, MatcherConfig, feature_kind
from .pairs import match_many, match_pair, matches_to_indices, pad_descriptors


def match_h5(features_path, pairs, out_path, *, matcher="nn", overwrite=False, batch_size=16, device=None, **options):
    """Match every listed pair of a ``features.h5`` into a ``matches.h5`` (see :mod:`.h5match`)."""
    from .h5match import match_h5 as _match_h5
    return _match_h5(features_path, pairs, out_path, matcher=matcher, overwrite=overwrite,
                     batch_size=batch_size, device=device, **options)


__all__ = ["METRICS", "MATCHERS", "Matcher", "MatcherConfig", "feature_kind", "match_batch", "match_pair", "match_many", "matches_to_indices", "pad_descriptors", "match_h5"]
