"""Evaluation on rectified stereo pairs with ground-truth disparity (real images).

The pair that ships with scikit-image is Middlebury 2014's *Motorcycle* (Scharstein et al., GCPR
2014), down-sampled to 741×500, with the left image's disparity. In pixel-centre coordinates the
left point ``(x, y)`` is seen in the right image at ``(x − d(x, y), y)``; the disparity is read at
the pixel nearest to the keypoint, and pixels whose disparity is missing (NaN, ±inf, ≤ 0) have no
ground truth.

For each model: features of both images, matches (mutual nearest neighbour by default, or the
model's LightGlue), and

- ``precision``: the share of matches with ground truth whose right keypoint lies within ``t`` px
  (Euclidean, so ``y`` too is within ``t``) of the left keypoint shifted by its disparity, at
  ``t`` = 1, 3 and 5 px;
- ``repeatability``: the share of left keypoints with ground truth that land inside the right
  image and have a right keypoint within ``t`` px of where they land (left to right only: only
  the left disparity is known);
- ``matching_score``: correct matches at ``t`` over those same covisible left keypoints;
- matches per pair, matches with ground truth, keypoints per image and extraction time.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..errors import BadInput
from ..features import Extractor, Features, load_extractor, resolve_device, scales_conf
from ..matching.matcher import Matcher, MatcherConfig

PRECISION_THRESHOLDS = (1, 3, 5)
MATCHERS = ("nn", "lightglue")


@dataclass
class StereoEvalConfig:
    """Options of :func:`evaluate`; each maps to one command-line flag."""

    max_keypoints: int = 2048
    scales: tuple[float, ...] | None = None  # students: extract at these image scales too (None: the model's own)
    repeatability_threshold: float = 3.0  # px
    matcher: str = "nn"  # nn | lightglue
    ratio: float | None = None  # nn: Lowe's ratio test
    distance_threshold: float | None = None  # nn: largest descriptor distance
    filter_threshold: float = 0.1  # lightglue: match-probability threshold
    resize_max: int | None = None  # longest side fed to the extractor (keypoints come back in full size)
    device: str = "auto"


@dataclass
class StereoPair:
    """A rectified pair: ``left``/``right`` ``H×W[×3]`` images, ``disparity`` ``H×W`` float of the
    left image (NaN, inf or ≤ 0 where unknown)."""

    name: str
    left: np.ndarray
    right: np.ndarray
    disparity: np.ndarray


def middlebury_pair() -> StereoPair:
    """Middlebury 2014 *Motorcycle* as it ships with scikit-image (741×500, real photographs)."""
    import skimage.data

    left, right, disparity = skimage.data.stereo_motorcycle()
    return StereoPair("middlebury-motorcycle", left, right, np.asarray(disparity, np.float64))


def left_to_right(points: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    """Left keypoints ``N×2`` (x, y) moved to the right image, ``(x − d, y)``; NaN rows where the
    disparity at the nearest pixel is unknown or the point is outside the image."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    h, w = disparity.shape
    col, row = np.round(points[:, 0]).astype(np.int64), np.round(points[:, 1]).astype(np.int64)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    d = np.full(len(points), np.nan)
    d[inside] = disparity[row[inside], col[inside]]
    d[~np.isfinite(d) | (d <= 0)] = np.nan
    return np.stack([points[:, 0] - d, np.where(np.isnan(d), np.nan, points[:, 1])], 1)


def evaluate_stereo_pair(f0: Features, f1: Features, matches0: np.ndarray, disparity: np.ndarray,
                         repeatability_threshold: float = 3.0) -> dict[str, Any]:
    """Scores of one pair (see the module docstring); ``matches0`` ``N0`` int, −1 unmatched."""
    kp0 = f0.keypoints.numpy().astype(np.float64)
    kp1 = f1.keypoints.numpy().astype(np.float64)
    m = np.asarray(matches0, np.int64).reshape(-1)
    projected = left_to_right(kp0, disparity)
    known = np.isfinite(projected).all(axis=1)
    w = disparity.shape[1]
    covisible = known & (projected[:, 0] >= -0.5) & (projected[:, 0] <= w - 0.5)
    matched = m >= 0
    judged = matched & known
    error = np.full(len(kp0), np.inf)
    error[judged] = np.linalg.norm(kp1[m[judged]] - projected[judged], axis=1)
    t = float(repeatability_threshold)
    nearest = np.full(len(kp0), np.inf)
    if covisible.any() and len(kp1):
        nearest[covisible] = cKDTree(kp1).query(projected[covisible], k=1)[0]
    n_covisible = int(covisible.sum())
    key = f"{t:g}"
    return {
        "precision": {str(p): float(np.mean(error[judged] <= p)) if judged.any() else 0.0 for p in PRECISION_THRESHOLDS},
        "repeatability": {key: float(np.mean(nearest[covisible] <= t)) if n_covisible else 0.0},
        "matching_score": {key: float(np.sum((error <= t) & covisible) / n_covisible) if n_covisible else 0.0},
        "matches": int(matched.sum()),
        "matches_with_ground_truth": int(judged.sum()),
        "keypoints": [len(kp0), len(kp1)],
    }


def make_matcher(config: StereoEvalConfig, model: str | Extractor, device: torch.device
                 ) -> tuple[Callable[[Features, Features], torch.Tensor], str]:
    """A function ``(f0, f1) → matches0`` for ``config.matcher`` (a :class:`~slamfeat.matching.Matcher` for the
    features of ``model``: SIFT's ratio default, a student's teacher's LightGlue) and its name for the report."""
    matcher = Matcher(MatcherConfig(config.matcher, ratio=config.ratio, distance_threshold=config.distance_threshold,
                                    filter_threshold=config.filter_threshold), model, device)
    d = matcher.describe()
    if d["name"] == "lightglue":
        name = f"lightglue ({d['weights']})"
    else:
        name = "mutual nearest neighbour"
        if d["ratio"] is not None:
            name += f", ratio {d['ratio']:g}"
        if d["distance_threshold"] is not None:
            name += f", distance ≤ {d['distance_threshold']:g}"
    return (lambda f0, f1: matcher.match(f0, f1)[0]), name


def _summarise(results: list[dict[str, Any]], seconds: list[float]) -> dict[str, Any]:
    def mean(get) -> float:
        return float(np.mean([get(r) for r in results]))

    first = results[0]
    return {
        "precision": {k: mean(lambda r, k=k: r["precision"][k]) for k in first["precision"]},
        "repeatability": {k: mean(lambda r, k=k: r["repeatability"][k]) for k in first["repeatability"]},
        "matching_score": {k: mean(lambda r, k=k: r["matching_score"][k]) for k in first["matching_score"]},
        "matches_per_pair": mean(lambda r: r["matches"]),
        "matches_with_ground_truth": mean(lambda r: r["matches_with_ground_truth"]),
        "keypoints_per_image": mean(lambda r: np.mean(r["keypoints"])),
        "ms_per_image": 1000 * float(np.mean(seconds)),
        "pairs": len(results),
    }


def check_config(config: StereoEvalConfig) -> None:
    if config.max_keypoints < 1:
        raise BadInput(f"max_keypoints {config.max_keypoints}: at least 1")
    if config.repeatability_threshold <= 0:
        raise BadInput(f"repeatability threshold {config.repeatability_threshold:g}: must be positive")
    if config.matcher not in MATCHERS:
        raise BadInput(f"matcher {config.matcher!r}: choose one of {', '.join(MATCHERS)}")
    if config.ratio is not None and not 0 < config.ratio <= 1:
        raise BadInput(f"ratio {config.ratio:g}: must be in (0, 1]")


def check_pair(pair: StereoPair) -> None:
    if pair.left.shape[:2] != pair.right.shape[:2] or pair.disparity.shape != pair.left.shape[:2]:
        raise BadInput(f"stereo pair {pair.name}: left {pair.left.shape[:2]}, right {pair.right.shape[:2]} and "
                       f"disparity {pair.disparity.shape} must have the same height and width")


def evaluate(models: Sequence[str | Extractor], config: StereoEvalConfig = StereoEvalConfig(),
             pairs: Sequence[StereoPair] | None = None, progress: Callable | None = None,
             **extractor_conf: Any) -> dict[str, Any]:
    """Evaluate extractors on stereo pairs (default: the Middlebury pair of scikit-image).

    Returns:
        ``{"dataset": {...}, "settings": {..., "matcher": name}, "results": {model: {...}}}``.
    """
    if not models:
        raise BadInput("no model given")
    check_config(config)
    pairs = list(pairs) if pairs is not None else [middlebury_pair()]
    for pair in pairs:
        check_pair(pair)
    device = resolve_device(config.device)
    conf = {"max_keypoints": config.max_keypoints, **scales_conf(config.scales), **extractor_conf}
    if config.resize_max:
        conf["resize_max"] = config.resize_max
    results, matcher_names = {}, set()
    for model in (progress(models, "models") if progress and len(models) > 1 else models):
        extractor = model if isinstance(model, Extractor) else load_extractor(model, device=device, **conf)
        label = str(model) if not isinstance(model, Extractor) else (extractor.name or type(extractor).__name__)
        match, matcher_name = make_matcher(config, extractor, device)
        matcher_names.add(matcher_name)
        per_pair, seconds = [], []
        for pair in pairs:
            features = []
            for image in (pair.left, pair.right):
                t0 = time.perf_counter()
                features.append(extractor.extract(image).to("cpu"))
                seconds.append(time.perf_counter() - t0)
            m0 = match(*features)
            per_pair.append(evaluate_stereo_pair(features[0], features[1], m0.cpu().numpy(), pair.disparity,
                                                 config.repeatability_threshold))
        results[label] = {**_summarise(per_pair, seconds), "matcher": matcher_name}
    dataset = {"pairs": [p.name for p in pairs],
               "image_size": [int(pairs[0].left.shape[1]), int(pairs[0].left.shape[0])],
               "real_images": True}
    settings = {**asdict(config), "device": str(device), "matcher": " / ".join(sorted(matcher_names)),
                "precision_thresholds": list(PRECISION_THRESHOLDS)}
    return {"dataset": dataset, "settings": settings, "results": results}


__all__ = ["StereoEvalConfig", "StereoPair", "middlebury_pair", "left_to_right", "evaluate_stereo_pair",
           "make_matcher", "evaluate"]
