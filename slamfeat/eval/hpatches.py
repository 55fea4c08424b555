"""HPatches-protocol evaluation of extractors (D2-Net's matching protocol plus detection scores).

For each sequence, every image is resized so that its longest side is ``max_size`` (never
enlarged), each extractor keeps its ``max_keypoints`` best keypoints, and the pairs ``(1, k)``,
``k = 2…6``, are matched by mutual nearest neighbours. Per pair, with ``H`` rescaled to the
resized images:

- MMA at 1…10 px: the share of matches whose keypoint in image k lies within the threshold of
  its partner warped by ``H`` (all matches count, as in D2-Net);
- homography accuracy: ``H`` estimated by RANSAC (OpenCV, ``ransac_threshold`` px) from the
  matches; correct at t px when the mean corner error is ≤ t (a failed estimate is wrong);
- repeatability, matching score and MRS at ``score_threshold`` px (and MRS at 1…10 px), counting
  only keypoints that the other image sees (:mod:`slamfeat.geometry.metrics`).

All pixel thresholds are in the resized images. Scores are averaged over pairs; ``ms_per_image``
is the extractor's time per resized image, after one untimed warm-up run.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from ..datasets.hpatches import HPatchesSequence, LARGE_SEQUENCES, load_hpatches, verify_images
from ..errors import BadInput
from ..features import Extractor, Features, load_extractor, resolve_device, scales_conf, top_k
from ..geometry import metrics
from ..geometry.homography import corner_error, estimate_homography, inside_image, rescale_homography, warp_points
from ..io import atomic_path, read_image, write_text_atomic
from ..matching.matcher import Matcher, MatcherConfig
from ..synth.hpatches import SynthHPatchesConfig, make_hpatches

THRESHOLDS = tuple(range(1, 11))
HOMOGRAPHY_THRESHOLDS = (1, 3, 5)


@dataclass(frozen=True)
class HPatchesEvalConfig:
    """The fixed settings of ``slamfeat eval hpatches`` (each a command-line flag)."""

    max_size: int = 640  # longest image side, px (images are only ever shrunk)
    max_keypoints: int = 1024  # best-scored keypoints kept per image
    scales: tuple[float, ...] | None = None  # students: extract at these image scales too (None: the model's own)
    matcher: MatcherConfig = MatcherConfig()  # nn (mutual nearest neighbours) or lightglue, with its options
    ransac_threshold: float = 3.0  # px, for the homography estimate
    score_threshold: float = 3.0  # px, for repeatability, matching score and MRS
    thresholds: tuple[int, ...] = THRESHOLDS
    homography_thresholds: tuple[int, ...] = HOMOGRAPHY_THRESHOLDS
    exclude_large: bool = True  # leave out D2-Net's eight sequences of very large images
    sequences: int | None = None  # evaluate only this many sequences (i_* and v_* alternately)
    device: str = "auto"

    def __post_init__(self) -> None:
        metrics.check_positive(ransac_threshold=self.ransac_threshold)


@dataclass
class PairResult:
    """Scores of one image pair ``(1, k)``."""

    sequence: str
    kind: str
    k: int
    mma: np.ndarray  # T, over config.thresholds
    mrs_curve: np.ndarray  # T
    corner_error: float
    repeatability: float
    matching_score: float
    mrs: float
    matches: int


@dataclass
class ModelRun:
    """What one extractor accumulates over the dataset."""

    extractor: Extractor
    matcher: Matcher
    pairs: list[PairResult] = field(default_factory=list)
    keypoints: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def resize_max(image: np.ndarray, max_size: int | None) -> tuple[np.ndarray, tuple[float, float]]:
    """Shrink ``image`` so that its longest side is ``max_size``; returns it and ``(sx, sy)``."""
    h, w = image.shape[:2]
    if not max_size or max(h, w) <= max_size:
        return image, (1.0, 1.0)
    s = max_size / max(h, w)
    nw, nh = max(int(round(w * s)), 1), max(int(round(h * s)), 1)
    return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA), (nw / w, nh / h)


def select_sequences(sequences: list[HPatchesSequence], limit: int | None) -> list[HPatchesSequence]:
    """The first ``limit`` sequences taking ``i_*`` and ``v_*`` in turn (all when None)."""
    if limit is None or limit >= len(sequences):
        return sequences
    kinds = {"i": [s for s in sequences if s.kind == "i"], "v": [s for s in sequences if s.kind == "v"]}
    out: list[HPatchesSequence] = []
    while len(out) < limit:
        for k in ("i", "v"):
            if kinds[k] and len(out) < limit:
                out.append(kinds[k].pop(0))
    return sorted(out, key=lambda s: s.name)


def evaluate_pair(f0: Features, f1: Features, matches0: np.ndarray, H: np.ndarray,
                  config: HPatchesEvalConfig) -> dict[str, Any]:
    """All scores of one pair; ``H`` maps image-0 pixels to image-1 pixels (pixel centres)."""
    kp0 = f0.keypoints.detach().cpu().double().numpy().reshape(-1, 2)
    kp1 = f1.keypoints.detach().cpu().double().numpy().reshape(-1, 2)
    m = np.asarray(matches0, dtype=np.int64).reshape(-1)
    kp0_in_1 = warp_points(H, kp0)
    kp1_in_0 = warp_points(np.linalg.inv(H), kp1)
    cov0, cov1 = inside_image(kp0_in_1, f1.image_size), inside_image(kp1_in_0, f0.image_size)
    rows = np.flatnonzero(m >= 0)
    H_est, _ = estimate_homography(kp0[rows], kp1[m[rows]], config.ransac_threshold)
    t = config.score_threshold
    return {
        "mma": metrics.mean_matching_accuracy(kp0, kp1, m, kp0_in_1, config.thresholds),
        "mrs_curve": metrics.mrs_curve(kp0, kp1, m, kp0_in_1, cov0, cov1, config.thresholds),
        "corner_error": corner_error(H, H_est, f0.image_size),
        "repeatability": metrics.repeatability(kp0, kp1, kp0_in_1, kp1_in_0, cov0, cov1, t),
        "matching_score": metrics.matching_score(kp0, kp1, m, kp0_in_1, kp1_in_0, cov0, cov1, t),
        "mrs": metrics.mrs(kp0, kp1, m, kp0_in_1, cov0, cov1, t),
        "matches": int(len(rows)),
    }


def _extract(run: ModelRun, image: np.ndarray, max_keypoints: int, timed: bool = True) -> Features:
    t0 = time.perf_counter()
    feats = run.extractor.extract(image)
    if run.extractor.device.type == "cuda":
        import torch
        torch.cuda.synchronize()
    if timed:
        run.seconds.append(time.perf_counter() - t0)
    feats = top_k(feats.to("cpu"), max_keypoints)
    if timed:
        run.keypoints.append(len(feats))
    return feats


def evaluate_sequence(sequence: HPatchesSequence, runs: dict[str, ModelRun], config: HPatchesEvalConfig,
                      device) -> None:
    """Extract, match and score one sequence for every model, appending to ``runs``."""
    images, scales = zip(*(resize_max(read_image(p), config.max_size) for p in sequence.images))
    for run in runs.values():
        if not run.seconds:  # warm-up: the first call of a network pays one-time costs
            _extract(run, images[0], config.max_keypoints, timed=False)
        feats = [_extract(run, im, config.max_keypoints) for im in images]
        for _, k, H in sequence.pairs():
            Hs = rescale_homography(H, scales[0], scales[k - 1])
            m0, _ = run.matcher.match(feats[0], feats[k - 1])
            scores = evaluate_pair(feats[0], feats[k - 1], m0.numpy(), Hs, config)
            run.pairs.append(PairResult(sequence.name, sequence.kind, k, **scores))


def _mean(values) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def _curve(pairs: list[PairResult], attr: str, thresholds) -> dict[str, float | None]:
    if not pairs:
        return {str(t): None for t in thresholds}
    mean = np.mean([getattr(p, attr) for p in pairs], axis=0)
    return {str(t): float(v) for t, v in zip(thresholds, mean)}


def summarise(run: ModelRun, config: HPatchesEvalConfig) -> dict[str, Any]:
    """The contract's per-model results from the pairs of one run."""
    pairs = run.pairs
    t = f"{config.score_threshold:g}"
    return {
        "mma": _curve(pairs, "mma", config.thresholds),
        "mma_i": _curve([p for p in pairs if p.kind == "i"], "mma", config.thresholds),
        "mma_v": _curve([p for p in pairs if p.kind == "v"], "mma", config.thresholds),
        "homography_accuracy": {str(h): _mean(p.corner_error <= h for p in pairs)
                                for h in config.homography_thresholds},
        "repeatability": {t: _mean(p.repeatability for p in pairs)},
        "matching_score": {t: _mean(p.matching_score for p in pairs)},
        "mrs": _mean(p.mrs for p in pairs),
        "mrs_curve": _curve(pairs, "mrs_curve", config.thresholds),
        "keypoints_per_image": _mean(run.keypoints),
        "matches_per_pair": _mean(p.matches for p in pairs),
        "ms_per_image": 1000 * _mean(run.seconds) if run.seconds else None,
        "pairs": len(pairs),
        "model_config": run.extractor.describe_config(),
        "matcher": run.matcher.describe(),
    }


def sequence_rows(runs: dict[str, ModelRun], config: HPatchesEvalConfig) -> list[dict[str, Any]]:
    """One CSV row per (model, sequence): the pair scores averaged over the sequence."""
    rows = []
    thresholds = list(config.thresholds)
    for label, run in runs.items():
        names = sorted({p.sequence for p in run.pairs})
        for name in names:
            ps = [p for p in run.pairs if p.sequence == name]
            mma = np.mean([p.mma for p in ps], axis=0)
            row = {"model": label, "sequence": name, "kind": ps[0].kind, "pairs": len(ps)}
            row.update({f"mma@{t}": float(mma[thresholds.index(t)]) for t in (1, 3, 5, 10) if t in thresholds})
            row.update({f"homography_accuracy@{h}": _mean(p.corner_error <= h for p in ps)
                        for h in config.homography_thresholds})
            median_error = float(np.median([p.corner_error for p in ps]))
            row.update({"median_corner_error": median_error if np.isfinite(median_error) else None,
                        "repeatability": _mean(p.repeatability for p in ps),
                        "matching_score": _mean(p.matching_score for p in ps),
                        "mrs": _mean(p.mrs for p in ps),
                        "matches_per_pair": _mean(p.matches for p in ps)})
            rows.append(row)
    return rows


def _label(model: str | Extractor, taken: set[str]) -> str:
    base = str(model) if not isinstance(model, Extractor) else (model.name or type(model).__name__)
    label, n = base, 2
    while label in taken:
        label, n = f"{base}#{n}", n + 1
    return label


def evaluate(root: str | os.PathLike | None, models: Sequence[str | Extractor],
             config: HPatchesEvalConfig = HPatchesEvalConfig(), synth: Any = None,
             progress: Callable | None = None, verify: bool = True) -> dict[str, Any]:
    """Evaluate extractors on an HPatches-format folder, or on a synthetic set made for the run.

    Args:
        root: the sequences folder; None makes a synthetic set (``synth``, a
            :class:`~slamfeat.synth.hpatches.SynthHPatchesConfig`) in a temporary folder.
        models: registry names, student checkpoints, or ready :class:`Extractor` objects (used as
            configured; their keypoints are cut to ``config.max_keypoints`` all the same).
        progress: wraps the sequence loop (e.g. :func:`slamfeat.progress.progress`).
        verify: decode every image before the run, so a corrupt file fails before any work.
    Returns:
        ``{"dataset", "settings", "results": {label: {...}}, "sequences": [rows]}``.
    """
    if not models:
        raise BadInput("no model given")
    if config.max_keypoints < 1:
        raise BadInput(f"max_keypoints {config.max_keypoints}: must be at least 1", option="max_keypoints")
    if config.max_size < 32:
        raise BadInput(f"max_size {config.max_size}: must be at least 32 px", option="max_size")
    device = resolve_device(config.device)
    if root is None:
        extractors = load_models(models, config, device)  # an unknown model fails before the set is made
        runs = model_runs(extractors, config, device)  # and a matcher that does not fit it
        synth = synth or SynthHPatchesConfig(max_size=config.max_size)
        with tempfile.TemporaryDirectory(prefix="slamfeat-hpatches-") as tmp:
            made = make_hpatches(tmp, synth)
            sequences, dataset = _dataset(tmp, config)
            report = _evaluate(sequences, dataset, runs, config, device, progress)
        report["dataset"].update(root=None, synthetic=True, synth=made["config"])
        return report
    runs = model_runs(load_models(models, config, device), config, device)
    sequences, dataset = _dataset(root, config)
    if verify:
        verify_images(sequences)
    return _evaluate(sequences, dataset, runs, config, device, progress)


def model_runs(extractors: dict[str, Extractor], config: HPatchesEvalConfig, device) -> dict[str, ModelRun]:
    """One :class:`ModelRun` per extractor, with the configured matcher built for its features."""
    return {label: ModelRun(extractor, Matcher(config.matcher, extractor, device))
            for label, extractor in extractors.items()}


def load_models(models: Sequence[str | Extractor], config: HPatchesEvalConfig, device) -> dict[str, Extractor]:
    """Extractors by label: names are loaded with ``config.max_keypoints``, objects kept as given."""
    out: dict[str, Extractor] = {}
    for model in models:
        extractor = model if isinstance(model, Extractor) else load_extractor(
            model, device=device, max_keypoints=config.max_keypoints, **scales_conf(config.scales))
        out[_label(model, set(out))] = extractor.to(device).eval()
    return out


def _dataset(root, config: HPatchesEvalConfig) -> tuple[list[HPatchesSequence], dict[str, Any]]:
    everything = load_hpatches(root, exclude_large=False)
    sequences = [s for s in everything if not (config.exclude_large and s.name in LARGE_SEQUENCES)]
    sequences = select_sequences(sequences, config.sequences)
    if not sequences:
        raise BadInput(f"{root}: no sequence left to evaluate")
    dataset = {"root": str(root), "synthetic": False, "sequences": len(sequences),
               "sequences_i": sum(s.kind == "i" for s in sequences),
               "sequences_v": sum(s.kind == "v" for s in sequences),
               "pairs": 5 * len(sequences), "names": [s.name for s in sequences],
               "excluded_large": sorted({s.name for s in everything} & LARGE_SEQUENCES) if config.exclude_large else []}
    return sequences, dataset


def _evaluate(sequences: list[HPatchesSequence], dataset: dict[str, Any], runs: dict[str, ModelRun],
              config: HPatchesEvalConfig, device, progress: Callable | None) -> dict[str, Any]:
    for sequence in (progress(sequences, "eval hpatches") if progress else sequences):
        evaluate_sequence(sequence, runs, config, device)
    settings = {**asdict(config), "device": str(device), "thresholds": list(config.thresholds),
                "homography_thresholds": list(config.homography_thresholds)}
    return {"dataset": dataset, "settings": settings,
            "results": {label: summarise(run, config) for label, run in runs.items()},
            "sequences": sequence_rows(runs, config)}


def write_sequence_csv(path: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    """The per-sequence rows of :func:`evaluate` as a CSV file (written atomically)."""
    import csv
    import io as _io


    buf = _io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text_atomic(path, buf.getvalue())


def plot_mma(path: str | os.PathLike, results: dict[str, dict[str, Any]]) -> None:
    """MMA against threshold for every model, overall / illumination / viewpoint side by side
    (the figure of D2-Net's paper), written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    panels = (("mma", "Overall"), ("mma_i", "Illumination"), ("mma_v", "Viewpoint"))
    for ax, (key, title) in zip(axes, panels):
        for label, res in results.items():
            curve = {int(t): v for t, v in res[key].items() if v is not None}
            if curve:
                ax.plot(list(curve), list(curve.values()), marker="o", markersize=3, linewidth=1.8, label=label)
        ax.set_title(title)
        ax.set_xlabel("threshold [px]")
        ax.set_xlim(1, 10)
        ax.set_ylim(0, 1)
        ax.set_xticks(range(1, 11))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("MMA")
    axes[0].legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def companion_paths(json_path: str | os.PathLike) -> tuple[Path, Path]:
    """Where the MMA plot and the per-sequence CSV go beside a JSON report ``R.json``:
    ``R_mma.png`` and ``R_sequences.csv``."""
    p = Path(json_path)
    return p.with_name(p.stem + "_mma.png"), p.with_name(p.stem + "_sequences.csv")


__all__ = ["HPatchesEvalConfig", "evaluate", "load_models", "write_sequence_csv", "plot_mma", "companion_paths", "evaluate_pair", "resize_max", "select_sequences", "summarise",
           "THRESHOLDS", "HOMOGRAPHY_THRESHOLDS"]
