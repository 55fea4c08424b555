"""pycolmap's own SIFT pipeline (extract_features, matching, mapping), the reference that a
slamfeat reconstruction is compared with."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import pycolmap

from ..io import atomic_path
from .config import CameraSetup, ImageSet, ReconstructionConfig
from .database import database_is_complete, database_statistics
from .mapping import run_mapper, summarise


def match_colmap_sift(database: Path, pairs_mode: str, pairs_file: Path | None, device: pycolmap.Device) -> None:
    """COLMAP's SIFT matching + geometric verification for ``exhaustive``, ``sequential:K`` or a
    pairs file (``pairs_file``, one ``name0 name1`` a line)."""
    if pairs_file is not None:
        options = pycolmap.ImportedPairingOptions(match_list_path=pairs_file)
        pycolmap.match_image_pairs(database, pairing_options=options, device=device)
    elif pairs_mode.startswith("sequential"):
        _, _, k = pairs_mode.partition(":")
        options = pycolmap.SequentialPairingOptions(overlap=int(k) if k else 5, quadratic_overlap=False)
        pycolmap.match_sequential(database, pairing_options=options, device=device)
    else:
        pycolmap.match_exhaustive(database, device=device)


def sift_reconstruct(images: ImageSet, out_dir: str | Path, pairs: Sequence[tuple[str, str]],
                     pairs_file: Path | None, config: ReconstructionConfig, camera: CameraSetup) -> dict:
    """Reconstruct ``images`` with COLMAP's SIFT into ``out_dir`` (``database.db``, ``model/``,
    ``points.ply``) with the same pairs, cameras and mapper as the slamfeat run; a complete
    database from an earlier run is reused.

    Returns:
        the report of :func:`slamfeat.reconstruction.reconstruct` for model ``colmap-sift``.
    """
    out_dir = Path(out_dir)
    database = out_dir / "database.db"
    device = pycolmap.Device.cpu if config.device == "cpu" else pycolmap.Device.auto
    times = {}
    reused = database_is_complete(database, images.names, pairs)
    t0 = time.perf_counter()
    if not reused:
        with atomic_path(database) as tmp:
            pycolmap.Database.open(tmp).close()  # the empty file becomes a database with COLMAP's tables
            reader = pycolmap.ImageReaderOptions(camera_model=camera.model, camera_params=camera.params)
            mode = pycolmap.CameraMode.SINGLE if camera.single else pycolmap.CameraMode.AUTO
            pycolmap.extract_features(tmp, images.image_dir, image_names=images.names, camera_mode=mode,
                                      reader_options=reader, device=device)
            times["extract"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            match_colmap_sift(tmp, config.pairs, pairs_file, device)
            times["match"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    model = run_mapper(database, images.image_dir, config.mapper, len(images.names), config.seed,
                       refine_intrinsics=not camera.known, init_max_error=config.init_max_error)
    times["mapping"] = time.perf_counter() - t1
    report = summarise(model, out_dir, images.truth)
    times["export"] = report.pop("export_s")
    times["total"] = time.perf_counter() - t0
    database = database_statistics(database)
    return {"model": "colmap-sift", "num_images": len(images.names), **report,
            "keypoints_per_image": database["keypoints_per_image"], "pairs": len(pairs),
            "verified_pairs": database["verified_pairs"], "inlier_matches": database["inlier_matches"],
            "reused": ["database"] if reused else [], "time_s": times}
