"""Matching local features: batched nearest neighbours (mutual, ratio, distance) and LightGlue.

Example:
    >>> matches0, scores0 = match_pair(f0, f1, ratio=0.9)
    >>> pairs = matches_to_indices(matches0)  # M×2 (i0, i1)
    >>> matcher = Matcher(MatcherConfig("lightglue"), "slamfeat-base")  # the teacher's LightGlue
    >>> matches0, scores0 = matcher.match(f0, f1)
"""

from .batched import match_many, match_pair, matches_to_indices, pad_descriptors
from .h5match import match_h5
from .matcher import MATCHERS, Matcher, MatcherConfig, feature_kind
from .nearest_neighbour import match_batch
from .similarity import METRICS


__all__ = ["METRICS", "MATCHERS", "Matcher", "MatcherConfig", "feature_kind", "match_batch", "match_pair", "match_many", "matches_to_indices", "pad_descriptors", "match_h5"]
