"""The reconstruction pipeline: extraction → pairs → batched matching → COLMAP database →
pycolmap mapping → the largest model, in the manner of hloc.

Everything lives in one output folder, and every step keeps its file so a second run continues
where the first stopped. A run builds its files in ``OUT/.partial/`` and swaps them in at the end;
``OUT.lock`` beside the folder keeps a second run out while one runs::

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
from ..extract import extract_to_h5, features_up_to_date
from ..features import REGISTRY, load_extractor, resolve_device
from ..features.base import Extractor, check_conf
from ..io import write_json_atomic, write_text_atomic
from ..io.h5 import list_feature_names
from ..io.outputs import check_distinct, output_folder, output_lock
from ..io.pairs import format_pairs, pairs_from_mode, read_pairs
from ..matching import Matcher, MatcherConfig, match_h5
from .config import ReconstructionConfig, camera_setup, find_images
from .database import database_is_complete, database_statistics, write_database
from .mapping import MAPPERS, run_mapper, summarise
from .sift import sift_reconstruct

FEATURES, MATCHES, DATABASE, CONFIG, PAIRS = "features.h5", "matches.h5", "database.db", "config.json", "pairs.txt"
MODEL, PLY, SIFT = "model", "points.ply", "sift"
STAGE = ".partial"  # the run's new files, swapped into the output folder only at the end
FILES, FOLDERS = (FEATURES, MATCHES, DATABASE, CONFIG, PAIRS, PLY), (MODEL, SIFT)


def reconstruct(images: str | os.PathLike, out_dir: str | os.PathLike,
                config: ReconstructionConfig | None = None, extractor: Extractor | None = None) -> dict:
    """Reconstruct a folder of images (or an AirSim recording, whose poses then give ``pose_error``).

    Every input is checked before the output folder is touched. The run then builds its files in
    ``OUT/.partial/`` and swaps them into ``OUT`` only at the end, so a run that fails or is
    interrupted leaves the earlier run's files as they were (and the next run resumes from the
    features and matches it had made). Files of an earlier run are reused only when they were made
    from the same images (content fingerprints), extractor and settings; ``model/`` and
    ``points.ply`` always come from this run (none when it reconstructs nothing).

    Args:
        images: a folder of images, or the root of an AirSim recording (``airsim_rec.txt``).
        out_dir: the output folder (see the module's docstring); earlier files there are reused.
        config: the run's settings (defaults when None).
        extractor: an extractor already loaded (else ``config.model`` is loaded).

    Returns:
        the report: ``model``, ``num_images``, ``registered_images``, ``points3D``,
        ``mean_reproj_error`` (px), ``mean_track_length``, ``time_s`` per stage, ``pose_error``
        with ground truth, ``sift`` (the same report for pycolmap's SIFT) with ``compare_sift``.

    Raises:
        BadInput: fewer than 2 images, an unwritable ``out_dir`` (or one in use by another run),
        a bad setting, or an ``out_dir`` holding another model's features (without ``overwrite``).
    """
    config = config or ReconstructionConfig()
    check_config(config)
    images = find_images(images)
    image_dir, names = images.image_dir, images.names
    camera = camera_setup(config, images)
    if len(names) < 2:
        raise BadInput(f"{image_dir}: {len(names)} image; a reconstruction needs at least 2")
    pairs, pairs_file = image_pairs(names, config.pairs)
    spaced = next((n for n in names if any(c.isspace() for c in n)), None)
    if config.compare_sift and pairs_file is not None and spaced is not None:
        raise BadInput(f"{pairs_file}: COLMAP's SIFT run (compare_sift) reads a pairs file split at spaces, "
                       f"and image {spaced!r} has one; compare without a pairs file")
    out = Path(out_dir)
    check_output(out, image_dir)
    previous = check_previous(out, config)
    if extractor is None:
        extractor = load_extractor(config.model, weights=config.weights, device=resolve_device(config.device),
                                   **config.extractor_conf)
    # a matcher that does not fit the features fails before any output is written
    Matcher(MatcherConfig(config.matcher, **config.matcher_conf), _features_model(config, extractor),
            resolve_device(config.device))
    with output_lock(out):
        stage = start_stage(out, config)
        report = _run(images, pairs, pairs_file, camera, out, stage, config, previous, extractor)
        commit(stage, out)
    if "outputs" in report:
        report["outputs"] = {"model": str(out / MODEL), "ply": str(out / PLY)}
    return report


def _run(images, pairs, pairs_file, camera, out: Path, stage: Path, config: ReconstructionConfig,
         previous: dict | None, extractor: Extractor) -> dict:
    image_dir, names = images.image_dir, images.names
    reuse = not config.overwrite
    write_text_atomic(stage / PAIRS, format_pairs(pairs))
    times, reused = {}, []
    t0 = time.perf_counter()
    listed = [(n, image_dir / n) for n in names]
    if reuse and not (stage / FEATURES).exists() and features_up_to_date(out / FEATURES, listed, extractor):
        features = out / FEATURES
        reused.append("features")
    else:
        features = stage / FEATURES
        if reuse and not features.exists() and (out / FEATURES).is_file():
            shutil.copyfile(out / FEATURES, features)
        extract_to_h5(listed, extractor, features, overwrite=not reuse)
        keep_only(features, set(names))
    times["extract"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    matches = stage / MATCHES
    if reuse and not matches.exists() and (out / MATCHES).is_file():
        shutil.copyfile(out / MATCHES, matches)
    matching = match_h5(features, pairs, matches, matcher=config.matcher, overwrite=not reuse,
                        device=resolve_device(config.device), features_model=_features_model(config, extractor), **config.matcher_conf)
    if matching["matched"] == 0 and features == out / FEATURES and (out / MATCHES).is_file():
        matches.unlink()  # nothing new: the earlier file stands
        matches = out / MATCHES
        reused.append("matches")
    times["match"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    database = out / DATABASE
    same_database = (previous is not None and _part(previous, "database_part") == config.database_part()
                     and previous.get("camera") == asdict(camera))
    if not (reuse and same_database and reused == ["features", "matches"]
            and database_is_complete(database, names, pairs)):
        database = stage / DATABASE
        write_database(database, image_dir, names, features, matches, pairs,
                       camera.model, camera.single, camera.params, seed=config.seed)
    else:
        reused.append("database")
    times["database"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    model = run_mapper(database, image_dir, config.mapper, len(names), config.seed,
                       refine_intrinsics=not camera.known, init_max_error=config.init_max_error)
    times["mapping"] = time.perf_counter() - t1
    report = summarise(model, stage, images.truth)
    times["export"] = report.pop("export_s")
    times["total"] = time.perf_counter() - t0
    statistics = database_statistics(database)
    report = {"model": str(config.model), "num_images": len(names), **report,
              "keypoints_per_image": statistics["keypoints_per_image"], "pairs": len(pairs),
              "verified_pairs": statistics["verified_pairs"], "inlier_matches": statistics["inlier_matches"],
              "camera": asdict(camera), "matcher": matching["options"], "reused": reused, "time_s": times}
    if config.compare_sift:
        old = out / SIFT / DATABASE
        if reuse and same_database and old.is_file() and not (stage / SIFT / DATABASE).exists():
            (stage / SIFT).mkdir(exist_ok=True)
            shutil.copyfile(old, stage / SIFT / DATABASE)
        report["sift"] = sift_reconstruct(images, stage / SIFT, pairs, pairs_file, config, camera)
        if "outputs" in report["sift"]:
            report["sift"]["outputs"] = {"model": str(out / SIFT / MODEL), "ply": str(out / SIFT / PLY)}
    write_json_atomic(stage / CONFIG, {**asdict(config), "camera": asdict(camera)})
    return report


def _features_model(config: ReconstructionConfig, extractor: Extractor | None):
    """What made the features, for the matcher's choices: the extractor, or the student checkpoint
    given as ``weights``, or the model's name."""
    if extractor is not None:
        return extractor
    info = REGISTRY.get(str(config.model))
    return config.weights if config.weights and info is not None and info.kind == "student" else config.model


def check_config(config: ReconstructionConfig) -> None:
    """Raise :class:`BadInput` for settings that cannot run (checked before anything is written)."""
    if config.mapper not in MAPPERS:
        raise BadInput(f"mapper {config.mapper!r}: expected one of {', '.join(MAPPERS)}", option="mapper")
    check_conf(config.extractor_conf)
    if not (isinstance(config.init_max_error, (int, float)) and config.init_max_error > 0):
        raise BadInput(f"init_max_error {config.init_max_error}: expected a positive number of pixels",
                       option="init_max_error")


def check_output(out: Path, image_dir: Path) -> None:
    """The output folder can take this run's files: it is a folder (or can be made), not the image
    folder, and what it holds under the run's file names is of the right kind."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"{out}: is a file; the output of a reconstruction is a folder")
    check_distinct({"output folder": out}, {"image folder": image_dir})
    output_folder(out, create=False)
    for name in FILES:
        if (out / name).is_dir():
            raise BadInput(f"{out / name}: is a folder where the run keeps its {name} file; move it away")
    for name in FOLDERS:
        if (out / name).exists() and not (out / name).is_dir():
            raise BadInput(f"{out / name}: is a file where the run keeps its {name}/ folder; move it away")


def check_previous(out: Path, config: ReconstructionConfig) -> dict | None:
    """The configuration of the run that made ``out``'s files (None when there is none).

    Raises:
        BadInput: they hold the features of another model or matcher (without ``overwrite``).
    """
    previous = _read_config(out / CONFIG)
    if previous is not None and not config.overwrite and (out / FEATURES).exists():
        before = _part(previous, "features_part")
        if before != config.features_part():
            raise BadInput(f"{out}: holds the features of another run ({before.get('model')}, matcher "
                           f"{before.get('matcher')}); use another --out or --overwrite")
    return previous


def _part(previous: dict, part: str) -> dict:
    fields = ReconstructionConfig.__dataclass_fields__
    return getattr(ReconstructionConfig(**{k: v for k, v in previous.items() if k in fields}), part)()


def start_stage(out: Path, config: ReconstructionConfig) -> Path:
    """``OUT/.partial/``, kept from an interrupted run with the same settings (its features and
    matches are resumed), else made empty."""
    output_folder(out)
    stage = out / STAGE
    settings = {k: v for k, v in asdict(config).items() if k != "compare_sift"}
    marker = stage / "settings.json"
    if stage.is_dir() and _read_config(marker) != json.loads(json.dumps(settings, default=str)):
        shutil.rmtree(stage)
    for name in (MODEL, PLY, CONFIG, DATABASE, PAIRS, SIFT):  # only features and matches resume
        path = stage / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    stage.mkdir(exist_ok=True)
    write_json_atomic(marker, settings)
    return stage


def commit(stage: Path, out: Path) -> None:
    """Move the run's files from ``stage`` into ``out`` (replacing the earlier run's), drop the
    earlier run's model, cloud and SIFT run where this run made none, then remove ``stage``."""
    for name in FILES:
        if (stage / name).exists():
            os.replace(stage / name, out / name)
        elif name == PLY:
            (out / name).unlink(missing_ok=True)
    for name in FOLDERS:
        old = out / f".{name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if (out / name).exists():
            os.replace(out / name, old)
        if (stage / name).exists():
            os.replace(stage / name, out / name)
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)


def keep_only(features: Path, names: set[str]) -> None:
    """Drop from a features file the images that are not this run's."""
    with h5py.File(features, "a") as f:
        for name in [n for n in list_feature_names(f) if n not in names]:
            del f[name]


def image_pairs(names: list[str], pairs: str) -> tuple[list[tuple[str, str]], Path | None]:
    """The pairs of ``exhaustive``, ``sequential:K`` or a pairs file (returned as the second item)."""
    if pairs == "exhaustive" or pairs.startswith("sequential"):
        return pairs_from_mode(names, pairs), None
    path = Path(pairs)
    if not path.is_file():
        raise BadInput(f"pairs {pairs!r}: expected exhaustive, sequential:K or an existing pairs file", option="pairs")
    listed = read_pairs(path)
    known = set(names)
    for a, b in listed:
        if a not in known or b not in known:
            raise BadInput(f"{path}: pair '{a} {b}' names an image that is not in the folder")
    if not listed:
        raise BadInput(f"{path}: no image pairs in this file")
    return listed, path


def _read_config(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
