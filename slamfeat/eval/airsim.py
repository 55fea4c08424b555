"""Evaluation on an AirSim recording with ground-truth depth and poses.

For frame pairs ``(i, i + gap)`` at several gaps, each frame's keypoints are carried into the other
frame with its planar depth and the true relative pose; a depth check against the other frame's
depth removes occluded points. Scores per pair, averaged over pairs:

- repeatability, matching score and MRS at ``threshold`` px (:mod:`slamfeat.geometry.metrics`), with
  the configured matcher's matches (mutual nearest neighbours by default);
- the relative pose from the essential matrix of the matches (RANSAC, ``ransac_threshold`` px)
  against the true pose: error = max(rotation error, translation-direction error) in degrees
  (inf when no pose comes out), summarised as the AUC at 5/10/20°.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..datasets.airsim import AirSimRecording, read_recording
from ..errors import BadInput
from ..features import Extractor, Features, load_extractor, resolve_device, scales_conf, top_k
from ..geometry import metrics
from ..geometry.camera import warp_keypoints_with_depth
from ..geometry.metrics import pose_auc
from ..geometry.pose import pose_error, relative_pose
from ..geometry.two_view import estimate_relative_pose
from ..matching.matcher import Matcher, MatcherConfig

POSE_THRESHOLDS = (5, 10, 20)


@dataclass
class AirSimEvalConfig:
    """Options of :func:`evaluate`; each maps to one command-line flag."""

    gaps: tuple[int, ...] = (1, 5, 10)  # frame distance between the two images of a pair
    stride: int = 5  # every stride-th frame starts pairs
    max_pairs: int | None = None  # per gap, None = all
    threshold: float = 3.0  # px, for repeatability, matching score and MRS
    max_keypoints: int = 1024
    scales: tuple[float, ...] | None = None  # students: extract at these image scales too (None: the model's own)
    ransac_threshold: float = 1.0  # px
    estimator: str = "usac"  # usac (LO-RANSAC) | ransac (plain, SuperGlue's)
    occlusion_tol: float = 0.05  # relative depth difference that counts as occluded
    fov_deg: float | None = None  # None = settings.json or 90°
    device: str = "auto"
    matcher: MatcherConfig = field(default_factory=MatcherConfig)  # nn or lightglue, with its options

    def __post_init__(self) -> None:
        metrics.check_positive(ransac_threshold=self.ransac_threshold)


def frame_pairs(n_frames: int, gaps: Sequence[int], stride: int, max_pairs: int | None = None) -> list[tuple[int, int]]:
    """``(i, i + gap)`` for each gap and every ``stride``-th ``i``; at most ``max_pairs`` per gap."""
    if stride < 1 or any(g < 1 for g in gaps):
        raise BadInput(f"gaps {list(gaps)} and stride {stride} must be at least 1")
    pairs = []
    for gap in gaps:
        these = [(i, i + gap) for i in range(0, n_frames - gap, stride)]
        pairs += these[:max_pairs] if max_pairs else these
    return pairs


def evaluate_pair(f0: Features, f1: Features, matches0: np.ndarray, depth0: np.ndarray, depth1: np.ndarray,
                  K: np.ndarray, T_0to1: np.ndarray, config: AirSimEvalConfig) -> dict[str, float]:
    """Scores of one pair: repeatability, matching score, MRS, pose error (degrees), matches."""
    kp0, kp1 = f0.keypoints.numpy().astype(np.float64), f1.keypoints.numpy().astype(np.float64)
    kp0_in_1, cov0 = warp_keypoints_with_depth(kp0, depth0, K, K, T_0to1, depth1, config.occlusion_tol)
    kp1_in_0, cov1 = warp_keypoints_with_depth(kp1, depth1, K, K, np.linalg.inv(T_0to1), depth0, config.occlusion_tol)
    t, m = config.threshold, np.asarray(matches0, dtype=np.int64)
    rows = np.flatnonzero(m >= 0)
    estimate = estimate_relative_pose(kp0[rows], kp1[m[rows]], K, K, config.ransac_threshold,
                                      estimator=config.estimator)
    error = np.inf if estimate is None else max(pose_error(T_0to1, estimate[0], estimate[1]))
    return {
        "repeatability": metrics.repeatability(kp0, kp1, kp0_in_1, kp1_in_0, cov0, cov1, t),
        "matching_score": metrics.matching_score(kp0, kp1, m, kp0_in_1, kp1_in_0, cov0, cov1, t),
        "mrs": metrics.mrs(kp0, kp1, m, kp0_in_1, cov0, cov1, t),
        "pose_error": float(error),
        "matches": int(len(rows)),
        "covisible": float((cov0.mean() if len(cov0) else 0.0)),
    }


class _DepthCache:
    """The last few depth maps read (pairs come in frame order, so a small window suffices)."""

    def __init__(self, recording: AirSimRecording, size: int = 24):
        self.recording, self.size, self.maps = recording, size, OrderedDict()

    def __call__(self, i: int) -> np.ndarray:
        if i not in self.maps:
            self.maps[i] = self.recording.read_depth(i)
            if len(self.maps) > self.size:
                self.maps.popitem(last=False)
        return self.maps[i]


def summarise(pairs: list[dict[str, Any]], config: AirSimEvalConfig) -> dict[str, Any]:
    """Means over pairs and the pose AUC, keys as in the JSON contract."""
    key = f"{config.threshold:g}"

    def mean(name):
        return float(np.mean([p[name] for p in pairs])) if pairs else 0.0

    aucs = pose_auc([p["pose_error"] for p in pairs], POSE_THRESHOLDS)
    return {"repeatability": {key: mean("repeatability")}, "matching_score": {key: mean("matching_score")},
            "mrs": mean("mrs"), "pose_auc": {str(t): a for t, a in zip(POSE_THRESHOLDS, aucs)},
            "pairs": len(pairs), "matches_per_pair": mean("matches")}


def evaluate_recording(recording: AirSimRecording, features_of: Callable[[int], Features],
                       config: AirSimEvalConfig = AirSimEvalConfig(), device=None,
                       progress: Callable | None = None, matcher: Matcher | None = None) -> dict[str, Any]:
    """Score one feature source on a recording.

    Args:
        features_of: frame index → :class:`Features` of that frame (keypoints in its pixels).

    Returns:
        the contract's per-model dict plus ``per_gap`` (the same scores for each gap),
        ``keypoints_per_image`` and ``ms_per_image``.
    """
    if not recording.has_depth:
        raise BadInput(f"{recording.root}: the recording has no depth images; eval airsim needs them")
    matcher = matcher or Matcher(config.matcher, None, device)
    pairs = frame_pairs(len(recording), config.gaps, config.stride, config.max_pairs)
    if not pairs:
        raise BadInput(f"{recording.root}: {len(recording)} frames, too few for gaps {list(config.gaps)}")
    needed = sorted({i for p in pairs for i in p})
    feats, seconds = {}, []
    for i in (progress(needed, "extract") if progress else needed):
        t0 = time.perf_counter()
        feats[i] = features_of(i)
        seconds.append(time.perf_counter() - t0)
    depth = _DepthCache(recording)
    results = []
    for i, j in (progress(sorted(pairs), "pairs") if progress else sorted(pairs)):
        m0, _ = matcher.match(feats[i], feats[j])
        T = relative_pose(recording.frames[i].T_world_cam, recording.frames[j].T_world_cam)
        results.append({"gap": j - i, **evaluate_pair(feats[i], feats[j], m0.numpy(), depth(i), depth(j),
                                                      recording.K, T, config)})
    summary = summarise(results, config)
    summary["per_gap"] = {str(g): summarise([r for r in results if r["gap"] == g], config) for g in config.gaps}
    summary["keypoints_per_image"] = float(np.mean([len(f) for f in feats.values()]))
    summary["ms_per_image"] = 1000 * float(np.mean(seconds[1:] if len(seconds) > 1 else seconds))
    return summary


def evaluate(root: str | os.PathLike, models: Sequence[str | Extractor], config: AirSimEvalConfig = AirSimEvalConfig(),
             progress: Callable | None = None, **extractor_conf: Any) -> dict[str, Any]:
    """Evaluate extractors (registry names, checkpoints or ready :class:`Extractor` objects) on a recording.

    Returns:
        ``{"dataset": {...}, "settings": {...}, "results": {model: {...}}}``.
    """
    if not models:
        raise BadInput("no model given")
    if config.max_keypoints < 1:
        raise BadInput(f"max_keypoints {config.max_keypoints}: at least 1", option="max_keypoints")
    recording = read_recording(root, config.fov_deg)
    recording.check_depth_sizes()
    device = resolve_device(config.device)
    for model in models:  # a matcher that does not fit a model fails before any work
        Matcher(config.matcher, model, device)
    results = {}
    for model in models:
        extractor = model if isinstance(model, Extractor) else load_extractor(
            model, device=device, max_keypoints=config.max_keypoints, **scales_conf(config.scales), **extractor_conf)
        label = str(model) if not isinstance(model, Extractor) else (extractor.name or type(extractor).__name__)

        def features_of(i: int, extractor=extractor) -> Features:
            return top_k(extractor.extract(recording.read_image(i)).to("cpu"), config.max_keypoints)

        matcher = Matcher(config.matcher, extractor, device)
        results[label] = evaluate_recording(recording, features_of, config, device, progress, matcher)
        results[label]["matcher"] = matcher.describe()
    dataset = {"root": str(root), "frames": len(recording), "image_size": list(recording.image_size),
               "K": recording.K.tolist()}
    settings = {**asdict(config), "gaps": list(config.gaps), "device": str(device)}
    return {"dataset": dataset, "settings": settings, "results": results}


__all__ = ["AirSimEvalConfig", "frame_pairs", "evaluate_pair", "evaluate_recording", "evaluate", "summarise"]
