"""The reconstruction pipeline: extraction → pairs → batched matching → COLMAP database →
pycolmap mapping → the largest model, in the manner of hloc.

Everything lives in one output folder, and every step keeps its file so a second run continues
where the first stopped::

    OUT/config.json       the run's configuration
    OUT/pairs.txt         the matched image pairs
    OUT/features.h5       keypoints and descriptors (hloc's layout)
    OUT/matches.h5        matches of every pair (hloc's layout)
    OUT/database.db       the COLMAP database
    OUT/model/            the largest model, COLMAP's binary format
    OUT/points.ply        its 3-D points, coloured
    OUT/sift/             the same for pycolmap's own SIFT (with ``compare_sift``)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import h5py

from ..errors import BadInput
from ..extract import extract_to_h5
from ..features import REGISTRY, load_extractor, resolve_device
from ..features.base import Extractor
from ..h5 import read_pairs
from ..io import output_dir, write_json_atomic, write_text_atomic
from ..matching import Matcher, MatcherConfig, match_h5
from ..pairs import format_pairs, pairs_from_mode
from .config import ReconstructionConfig, camera_setup, find_images
from .database import database_is_complete, database_statistics, write_database
from .mapping import MAPPERS, run_mapper, summarise

FEATURES, MATCHES, DATABASE, CONFIG, PAIRS = "features.h5", "matches.h5", "database.db", "config.json", "pairs.txt"


def reconstruct(images: str | os.PathLike, out_dir: str | os.PathLike,
                config: ReconstructionConfig | None = None, extractor: Extractor | None = None) -> dict:
    """Reconstruct a folder of images (or an AirSim recording, whose poses then give ``pose_error``).

    Args:
        images: a folder of images, or the root of an AirSim recording (``airsim_rec.txt``).
        out_dir: the output folder (see the module's docstring); earlier files there are reused.
        config: the run's settings (defaults when None).
        extractor: an extractor already loaded (else ``config.model`` is loaded when needed).

    Returns:
        the report: ``model``, ``num_images``, ``registered_images``, ``points3D``,
        ``mean_reproj_error`` (px), ``mean_track_length``, ``time_s`` per stage, ``pose_error``
        with ground truth, ``sift`` (the same report for pycolmap's SIFT) with ``compare_sift``.

    Raises:
        BadInput: fewer than 2 images, an unwritable ``out_dir``, a bad pairs setting, or an
        ``out_dir`` holding another model's features (without ``overwrite``).
    """
    config = config or ReconstructionConfig()
    if config.mapper not in MAPPERS:
        raise BadInput(f"--mapper {config.mapper}: expected one of {', '.join(MAPPERS)}")
    images = find_images(images)
    image_dir, names = images.image_dir, images.names
    camera = camera_setup(config, images)
    if len(names) < 2:
        raise BadInput(f"{image_dir}: {len(names)} image; a reconstruction needs at least 2")
    pairs, pairs_file = image_pairs(names, config.pairs)
    # a matcher that does not fit the features fails before any output is written
    Matcher(MatcherConfig(config.matcher, **config.matcher_conf), _features_model(config, extractor),
            resolve_device(config.device))
    out = prepare_output(Path(out_dir), config)
    write_text_atomic(out / PAIRS, format_pairs(pairs))

    times, reused = {}, []
    t0 = time.perf_counter()
    extraction = extract_missing(image_dir, names, out / FEATURES, config, extractor)
    if extraction["extracted"] == 0:
        reused.append("features")
    times["extract"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    matching = match_h5(out / FEATURES, pairs, out / MATCHES, matcher=config.matcher,
                        device=resolve_device(config.device), features_model=_features_model(config, extractor),
                        **config.matcher_conf)
    if matching.get("matched", 1) == 0:
        reused.append("matches")
    times["match"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    if database_is_complete(out / DATABASE, names, pairs):
        reused.append("database")
    else:
        write_database(out / DATABASE, image_dir, names, out / FEATURES, out / MATCHES, pairs,
                       camera.model, camera.single, camera.params)
    times["database"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    model = run_mapper(out / DATABASE, image_dir, config.mapper, len(names), config.seed,
                       refine_intrinsics=not camera.known, init_max_error=config.init_max_error)
    times["mapping"] = time.perf_counter() - t1
    report = summarise(model, out, images.truth)
    times["export"] = report.pop("export_s")
    times["total"] = time.perf_counter() - t0
    database = database_statistics(out / DATABASE)
    report = {"model": str(config.model), "num_images": len(names), **report,
              "keypoints_per_image": database["keypoints_per_image"], "pairs": len(pairs),
              "verified_pairs": database["verified_pairs"], "inlier_matches": database["inlier_matches"],
              "camera": asdict(camera), "matcher": matching["options"], "reused": reused, "time_s": times}
    if config.compare_sift:
        from .sift import sift_reconstruct
        report["sift"] = sift_reconstruct(images, out / "sift", pairs, pairs_file, config, camera)
    return report


def _features_model(config: ReconstructionConfig, extractor: Extractor | None):
    """What made the features, for the matcher's choices: the extractor, or the student checkpoint
    given as ``weights``, or the model's name."""
    if extractor is not None:
        return extractor
    info = REGISTRY.get(str(config.model))
    return config.weights if config.weights and info is not None and info.kind == "student" else config.model


def image_pairs(names: list[str], pairs: str) -> tuple[list[tuple[str, str]], Path | None]:
    """The pairs of ``exhaustive``, ``sequential:K`` or a pairs file (returned as the second item)."""
    if pairs == "exhaustive" or pairs.startswith("sequential"):
        return pairs_from_mode(names, pairs), None
    path = Path(pairs)
    if not path.is_file():
        raise BadInput(f"--pairs {pairs}: expected exhaustive, sequential:K or an existing pairs file")
    listed = read_pairs(path)
    known = set(names)
    for a, b in listed:
        if a not in known or b not in known:
            raise BadInput(f"{path}: pair '{a} {b}' names an image that is not in the folder")
    if not listed:
        raise BadInput(f"{path}: no image pairs in this file")
    return listed, path


def prepare_output(out: Path, config: ReconstructionConfig) -> Path:
    """Create ``out`` and write ``config.json``; drop intermediate files that another
    configuration made (features of another model are an error unless ``overwrite``)."""
    output_dir(out)
    previous = _read_config(out / CONFIG)
    stale = []
    if config.overwrite:
        stale = [FEATURES, MATCHES, DATABASE, "sift"]
    elif previous is not None:
        before = ReconstructionConfig(**{k: v for k, v in previous.items() if k in ReconstructionConfig.__dataclass_fields__})
        if before.features_part() != config.features_part() and (out / FEATURES).exists():
            raise BadInput(f"{out}: holds the features of another run ({before.model}, matcher {before.matcher}); "
                           "use another --out or --overwrite")
        if before.database_part() != config.database_part():
            stale = [DATABASE, "sift"]
    for name in stale:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    write_json_atomic(out / CONFIG, asdict(config))
    return out


def _read_config(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def extract_missing(image_dir: Path, names: list[str], features: Path, config: ReconstructionConfig,
                    extractor: Extractor | None) -> dict:
    """Extract the images not yet in ``features`` (loading the extractor only when needed)."""
    if features.is_file():
        try:
            with h5py.File(features, "r") as f:
                if all(n in f and "keypoints" in f[n] for n in names):
                    return {"images": len(names), "extracted": 0}
        except OSError:
            pass  # unreadable: extract_to_h5 says so
    if extractor is None:
        extractor = load_extractor(config.model, weights=config.weights, device=resolve_device(config.device), **config.extractor_conf)
    return extract_to_h5([(n, image_dir / n) for n in names], extractor, features)
