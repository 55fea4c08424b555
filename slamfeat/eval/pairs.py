"""Relative-pose evaluation on image pairs with known intrinsics and pose (SuperGlue's protocol).

For each pair of a :mod:`slamfeat.io.pairs` file: features of both images (each image turned
upright by its ``rot`` quarter turns before extraction, keypoints turned back), mutual nearest
neighbour matches, and

- the relative pose from the essential matrix (``ransac_threshold`` px over the mean focal length);
  error = max(rotation error, translation-direction error) in degrees, inf without a pose;
  AUC of the errors at 5/10/20°;
- precision: the share of matches whose squared symmetric epipolar distance in normalised
  coordinates is under ``epipolar_threshold`` (5e-4, as SuperGlue), averaged over pairs
  (a pair without matches counts 0);
- matches per pair.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import BadInput
from ..features import Extractor, Features, load_extractor, resolve_device, scales_conf, top_k
from ..geometry.metrics import check_positive, pose_auc
from ..geometry.pose import pose_error
from ..geometry.two_view import epipolar_errors, estimate_relative_pose
from ..io import read_image
from ..io.pairs import PosePair, read_pose_pairs
from ..matching.matcher import Matcher, MatcherConfig

POSE_THRESHOLDS = (5, 10, 20)


@dataclass
class PairsEvalConfig:
    """Options of :func:`evaluate`; each maps to one command-line flag."""

    max_keypoints: int = 2048
    scales: tuple[float, ...] | None = None  # students: extract at these image scales too (None: the model's own)
    ransac_threshold: float = 1.0  # px
    estimator: str = "usac"  # usac | ransac
    epipolar_threshold: float = 5e-4
    resize_max: int | None = None  # longest image side fed to the extractor (keypoints come back in full size)
    device: str = "auto"
    matcher: MatcherConfig = field(default_factory=MatcherConfig)  # nn or lightglue, with its options

    def __post_init__(self) -> None:
        check_positive(ransac_threshold=self.ransac_threshold, epipolar_threshold=self.epipolar_threshold)


def unrotate_keypoints(keypoints: np.ndarray, rot: int, size: tuple[int, int]) -> np.ndarray:
    """Keypoints ``N×2`` found in ``np.rot90(image, rot)`` mapped back to ``image`` of ``size`` (w, h)."""
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2).copy()
    w, h = size
    for k in range(rot % 4, 0, -1):
        # after k - 1 turns the image is (w, h) or (h, w); one counter-clockwise turn sends
        # (x, y) of an image of width W to (y, W - 1 - x), so back is (W - 1 - y', x')
        width = w if (k - 1) % 2 == 0 else h
        kp = np.stack([width - 1 - kp[:, 1], kp[:, 0]], 1)
    return kp


def evaluate_pair(f0: Features, f1: Features, matches0: np.ndarray, pair: PosePair,
                  config: PairsEvalConfig) -> dict[str, float]:
    """Pose error (degrees), precision and number of matches of one pair."""
    m = np.asarray(matches0, dtype=np.int64)
    rows = np.flatnonzero(m >= 0)
    kp0 = f0.keypoints.numpy().astype(np.float64)[rows]
    kp1 = f1.keypoints.numpy().astype(np.float64)[m[rows]]
    correct = epipolar_errors(kp0, kp1, pair.K0, pair.K1, pair.T_0to1) < config.epipolar_threshold
    estimate = estimate_relative_pose(kp0, kp1, pair.K0, pair.K1, config.ransac_threshold, estimator=config.estimator)
    error = np.inf if estimate is None else max(pose_error(pair.T_0to1, estimate[0], estimate[1]))
    return {"pose_error": float(error), "precision": float(correct.mean()) if len(rows) else 0.0,
            "matches": int(len(rows))}


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    aucs = pose_auc([r["pose_error"] for r in results], POSE_THRESHOLDS)
    return {"pose_auc": {str(t): a for t, a in zip(POSE_THRESHOLDS, aucs)},
            "precision": float(np.mean([r["precision"] for r in results])) if results else 0.0,
            "matches_per_pair": float(np.mean([r["matches"] for r in results])) if results else 0.0,
            "pairs": len(results)}


def evaluate_pairs(pairs: Sequence[PosePair], features_of: Callable[[str, int], Features], config: PairsEvalConfig,
                   device=None, progress: Callable | None = None, matcher: Matcher | None = None) -> dict[str, Any]:
    """Score one feature source on pairs.

    Args:
        features_of: ``(image name, rot)`` → :class:`Features` in the pixels of the stored image.
    """
    matcher = matcher or Matcher(config.matcher, None, device)
    cache: dict[tuple[str, int], Features] = {}
    seconds = []

    def get(name: str, rot: int) -> Features:
        if (name, rot) not in cache:
            t0 = time.perf_counter()
            cache[(name, rot)] = features_of(name, rot)
            seconds.append(time.perf_counter() - t0)
        return cache[(name, rot)]

    results = []
    for pair in (progress(pairs, "pairs") if progress else pairs):
        f0, f1 = get(pair.name0, pair.rot0), get(pair.name1, pair.rot1)
        m0, _ = matcher.match(f0, f1)
        results.append(evaluate_pair(f0, f1, m0.numpy(), pair, config))
    summary = summarise(results)
    summary["keypoints_per_image"] = float(np.mean([len(f) for f in cache.values()])) if cache else 0.0
    summary["ms_per_image"] = 1000 * float(np.mean(seconds[1:] if len(seconds) > 1 else seconds)) if seconds else 0.0
    return summary


def check_images(pairs: Sequence[PosePair], images: Path) -> None:
    """Every image a pair names exists (checked before any model loads)."""
    if not images.is_dir():
        raise BadInput(f"{images}: no such image folder")
    for pair in pairs:
        for name in (pair.name0, pair.name1):
            if not (images / name).is_file():
                raise BadInput(f"{images / name}: image named in the pairs file does not exist")


def evaluate(pairs_file: str | os.PathLike, images: str | os.PathLike, models: Sequence[str | Extractor],
             config: PairsEvalConfig = PairsEvalConfig(), progress: Callable | None = None,
             **extractor_conf: Any) -> dict[str, Any]:
    """Evaluate extractors on a pairs file whose names are relative to ``images``.

    Returns:
        ``{"dataset": {...}, "settings": {...}, "results": {model: {...}}}``.
    """
    if not models:
        raise BadInput("no model given")
    if config.max_keypoints < 1:
        raise BadInput(f"max_keypoints {config.max_keypoints}: at least 1", option="max_keypoints")
    pairs = read_pose_pairs(pairs_file)
    images = Path(images)
    check_images(pairs, images)
    device = resolve_device(config.device)
    for model in models:  # a matcher that does not fit a model fails before any work
        Matcher(config.matcher, model, device)
    conf = {"max_keypoints": config.max_keypoints, **scales_conf(config.scales), **extractor_conf}
    if config.resize_max:
        conf["resize_max"] = config.resize_max
    results = {}
    for model in models:
        extractor = model if isinstance(model, Extractor) else load_extractor(model, device=device, **conf)
        label = str(model) if not isinstance(model, Extractor) else (extractor.name or type(extractor).__name__)

        def features_of(name: str, rot: int, extractor=extractor) -> Features:
            image = read_image(images / name)
            size = (image.shape[1], image.shape[0])
            feats = top_k(extractor.extract(np.ascontiguousarray(np.rot90(image, rot))).to("cpu"), config.max_keypoints)
            if rot % 4:
                import torch
                kp = unrotate_keypoints(feats.keypoints.numpy(), rot, size)
                feats = Features(torch.from_numpy(kp).float(), feats.scores, feats.descriptors, size, feats.binary)
            return feats

        matcher = Matcher(config.matcher, extractor, device)
        results[label] = evaluate_pairs(pairs, features_of, config, device, progress, matcher)
        results[label]["matcher"] = matcher.describe()
    dataset = {"pairs_file": str(pairs_file), "images": str(images), "pairs": len(pairs)}
    settings = {**asdict(config), "device": str(device)}
    return {"dataset": dataset, "settings": settings, "results": results}


__all__ = ["PairsEvalConfig", "unrotate_keypoints", "evaluate_pair", "evaluate_pairs", "evaluate", "check_images"]
