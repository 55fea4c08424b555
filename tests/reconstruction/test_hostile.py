"""Hostile input to ``slamfeat reconstruct`` (issue 16): a failed or interrupted run leaves the
earlier run as it was, reused files must come from the same images, names with spaces work, the
same inputs give the same model, and COLMAP's own log stays quiet."""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest

from fixtures.airsim import run_cli_here
from fixtures.core import assert_one_line_error, run_cli
from fixtures.reconstruction import RECONSTRUCTION_ARGS


def snapshot(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` with its bytes, but for ``.partial/`` (what the failed run had done,
    kept for the next run to resume from)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not str(p.relative_to(out)).startswith(".partial")}


def recording_images(root: Path) -> list[Path]:
    lines = (root / "airsim_rec.txt").read_text().splitlines()[1:]
    return [root / "images" / line.split("\t")[-1].split(";")[0] for line in lines]


@pytest.fixture
def earlier_run(sift_reconstruction, tmp_path) -> Path:
    out = Path(shutil.copytree(sift_reconstruction[0], tmp_path / "out"))
    shutil.rmtree(out / "sift")  # not needed here
    return out


# --- 1. a failed or interrupted run damages nothing

def test_a_failing_run_leaves_the_earlier_run_as_it_was(earlier_run, reconstruction_sequence, tmp_path, capsys):
    before = snapshot(earlier_run)
    rec = Path(shutil.copytree(reconstruction_sequence, tmp_path / "rec"))
    bad = recording_images(rec)[3]
    bad.write_bytes(bad.read_bytes()[:200])  # cut short
    proc = run_cli_here(capsys, "reconstruct", rec, "--out", earlier_run, *RECONSTRUCTION_ARGS[:-2],
                        "--pairs", "sequential:2")
    assert_one_line_error(proc, bad.name)
    assert snapshot(earlier_run) == before
    proc = run_cli_here(capsys, "reconstruct", reconstruction_sequence, "--out", earlier_run, *RECONSTRUCTION_ARGS,
                        "--camera-model", "SIMPLE_RADIAL", "--camera-params", "nan,160,120,0")
    assert_one_line_error(proc, "nan,160,120,0")
    assert snapshot(earlier_run) == before


def test_an_interrupted_overwrite_leaves_the_earlier_run_as_it_was(earlier_run, reconstruction_sequence,
                                                                    monkeypatch, capsys):
    import slamfeat.reconstruction.pipeline as pipeline

    before = snapshot(earlier_run)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run_mapper", interrupted)
    proc = run_cli_here(capsys, "reconstruct", reconstruction_sequence, "--out", earlier_run, *RECONSTRUCTION_ARGS,
                        "--overwrite")
    assert proc.returncode == 130
    assert snapshot(earlier_run) == before
    assert not list(earlier_run.rglob(".model.tmp")) and not (earlier_run.with_name("out.lock")).exists()


def test_a_folder_where_the_database_goes_is_refused_first(reconstruction_sequence, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "database.db").mkdir(parents=True)
    proc = run_cli_here(capsys, "reconstruct", reconstruction_sequence, "--out", out, *RECONSTRUCTION_ARGS)
    assert_one_line_error(proc, str(out / "database.db"), "folder")
    assert sorted(p.name for p in out.iterdir()) == ["database.db"]


def test_the_report_may_not_land_on_the_output_folder(reconstruction_sequence, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli_here(capsys, "reconstruct", reconstruction_sequence, "--out", out, *RECONSTRUCTION_ARGS,
                        "--json", out)
    assert_one_line_error(proc, str(out))


# --- 4. reuse only what the same images made

def test_another_folder_with_the_same_names_is_not_taken_for_the_earlier_one(earlier_run, reconstruction_sequence,
                                                                            tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    for path in recording_images(reconstruction_sequence):
        image = cv2.imread(str(path))
        cv2.imwrite(str(other / path.name), cv2.resize(image, (240, 180), interpolation=cv2.INTER_AREA))
    proc = run_cli_here(capsys, "reconstruct", other, "--out", earlier_run, *RECONSTRUCTION_ARGS,
                        "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["reused"] == []
    import h5py
    with h5py.File(earlier_run / "features.h5") as f:
        assert {tuple(f[n]["image_size"][()]) for n in f} == {(240, 180)}
    if report["registered_images"]:
        model = pycolmap.Reconstruction(str(earlier_run / "model"))
        assert {c.width for c in model.cameras.values()} == {240}
    else:  # nothing reconstructed: the earlier run's model is not left to pass for this one's
        assert not (earlier_run / "model").exists() and not (earlier_run / "points.ply").exists()


# --- 5. names with spaces (and non-ASCII), 8. a quiet COLMAP, 10. repeatable

@pytest.fixture(scope="module")
def spaced_folder(reconstruction_sequence, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("spaced") / "photos"
    folder.mkdir()
    for i, path in enumerate(recording_images(reconstruction_sequence)):
        shutil.copy(path, folder / f"vue n° {i:02d}.png")
    return folder


RUN_ARGS = ("--model", "sift", "--max-keypoints", "1024", "--camera-model", "PINHOLE",
            "--camera-params", "160,160,160,120", "--single-camera")


@pytest.fixture(scope="module")
def spaced_run(spaced_folder, tmp_path_factory) -> Path:
    from slamfeat.cli import main

    out = tmp_path_factory.mktemp("spaced-run") / "out"
    assert main(["reconstruct", str(spaced_folder), "--out", str(out), *RUN_ARGS,
                 "--json", str(out.parent / "r.json")]) == 0
    return out


def test_names_with_spaces_reconstruct(spaced_run):
    report = json.loads((spaced_run.parent / "r.json").read_text())
    assert report["registered_images"] >= 8, report
    assert '"vue n° 00.png" "vue n° 01.png"' in (spaced_run / "pairs.txt").read_text(encoding="utf-8")
    names = {im.name for im in pycolmap.Reconstruction(str(spaced_run / "model")).images.values()}
    assert "vue n° 00.png" in names or "vue n° 01.png" in names


def test_the_same_inputs_give_the_same_model_and_colmap_stays_quiet(spaced_folder, spaced_run, tmp_path):
    proc = run_cli("reconstruct", spaced_folder, "--out", tmp_path / "again", *RUN_ARGS)
    assert proc.returncode == 0, proc.stderr
    assert "Failed to create" not in proc.stderr and "E20" not in proc.stderr
    first = pycolmap.Reconstruction(str(spaced_run / "model"))
    second = pycolmap.Reconstruction(str(tmp_path / "again" / "model"))
    assert first.num_reg_images() == second.num_reg_images() and first.num_points3D() == second.num_points3D()
    poses = {im.name: im.cam_from_world().matrix() for im in first.images.values() if im.has_pose}
    again = {im.name: im.cam_from_world().matrix() for im in second.images.values() if im.has_pose}
    assert poses.keys() == again.keys()
    for name in poses:
        assert np.allclose(poses[name], again[name], atol=1e-9), name


def test_initial_pairs_are_offered_strongest_first(spaced_run):
    from slamfeat.reconstruction.mapping import strongest_pairs

    pairs = strongest_pairs(spaced_run / "database.db")
    with pycolmap.Database.open(str(spaced_run / "database.db")) as db:
        ids, counts = db.read_two_view_geometry_num_inliers()
        inliers = {tuple(pycolmap.pair_id_to_image_pair(i)): n for i, n in zip(ids, counts)}
    assert len(pairs) > 10
    assert [inliers[p] for p in pairs] == sorted((inliers[p] for p in pairs), reverse=True)
