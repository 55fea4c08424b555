"""Hostile input to ``extract``, ``pairs`` and ``match`` (issue 16): nothing lost, nothing silently
wrong, one line and exit 2 for what cannot be used."""

import socket
import struct
import subprocess
import zlib

import cv2
import h5py
import numpy as np
import pytest

from fixtures.airsim import run_cli_here
from fixtures.core import assert_one_line_error


@pytest.fixture
def images(tmp_path, astronaut_small):
    d = tmp_path / "images"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), cv2.cvtColor(astronaut_small, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(d / "b.png"), cv2.cvtColor(astronaut_small[:, ::-1], cv2.COLOR_RGB2BGR))
    return d


def cli(capsys, *args):
    return run_cli_here(capsys, *args)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(path, w=100000, h=100000):
    """A small PNG file whose header declares ``w``×``h`` pixels."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                     + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _png_chunk(b"IEND", b""))
    return path


# --- 2. an output equal to another output or an input

def test_json_report_onto_the_features_file_is_refused(capsys, images, tmp_path):
    out = tmp_path / "f.h5"
    assert cli(capsys, "extract", images, "--model", "sift", "--out", out).returncode == 0
    before = out.read_bytes()
    proc = cli(capsys, "extract", images, "--model", "sift", "--out", out, "--json", out)
    assert_one_line_error(proc, str(out), "JSON report")
    assert out.read_bytes() == before


def test_output_onto_an_input_is_refused(capsys, images, tmp_path):
    before = (images / "a.png").read_bytes()
    assert_one_line_error(cli(capsys, "extract", images, "--model", "sift", "--out", images / "a.png"), "a.png")
    assert_one_line_error(cli(capsys, "pairs", images, "--out", images / "b.png"), "b.png")
    assert (images / "a.png").read_bytes() == before


# --- 4. resume keyed by what made the output, not by name alone

def test_another_model_into_an_existing_features_file_is_refused(capsys, images, tmp_path):
    out = tmp_path / "f.h5"
    assert cli(capsys, "extract", images, "--model", "sift", "--out", out).returncode == 0
    proc = cli(capsys, "extract", images, "--model", "orb", "--out", out)
    assert_one_line_error(proc, str(out), "sift")
    with h5py.File(out) as f:
        assert f["a.png/descriptors"].shape[0] == 128
    # asked for, the file is made again by the new model alone
    assert cli(capsys, "extract", images, "--model", "orb", "--out", out, "--overwrite").returncode == 0
    with h5py.File(out) as f:
        assert {f[n]["descriptors"].shape[0] for n in f} == {256}


def test_other_options_into_an_existing_features_file_are_refused(capsys, images, tmp_path):
    out = tmp_path / "f.h5"
    assert cli(capsys, "extract", images, "--model", "sift", "--max-keypoints", "300", "--out", out).returncode == 0
    proc = cli(capsys, "extract", images, "--model", "sift", "--max-keypoints", "100", "--out", out)
    assert_one_line_error(proc, "max_keypoints 300 (now 100)")


def test_same_name_from_another_folder_is_extracted_again(capsys, images, tmp_path, astronaut_small):
    out = tmp_path / "f.h5"
    assert cli(capsys, "extract", images, "--model", "sift", "--out", out).returncode == 0
    other = tmp_path / "other"
    other.mkdir()
    cv2.imwrite(str(other / "a.png"), cv2.resize(astronaut_small, (200, 150)))
    proc = cli(capsys, "extract", other / "a.png", "--model", "sift", "--out", out)
    assert proc.returncode == 0 and "1 of 1 images extracted" in proc.stdout
    with h5py.File(out) as f:
        assert tuple(f["a.png/image_size"][()]) == (200, 150)
        assert f["a.png"].attrs["image_sha1"]
    # unchanged: nothing to do
    assert "0 of 1 images extracted" in cli(capsys, "extract", other / "a.png", "--model", "sift", "--out", out).stdout


def test_matches_of_changed_features_are_made_again(capsys, images, tmp_path, astronaut_small):
    feats, pairs, matches = tmp_path / "f.h5", tmp_path / "p.txt", tmp_path / "m.h5"
    assert cli(capsys, "extract", images, "--model", "sift", "--out", feats).returncode == 0
    assert cli(capsys, "pairs", images, "--out", pairs).returncode == 0
    assert cli(capsys, "match", "--features", feats, "--pairs", pairs, "--out", matches).returncode == 0
    cv2.imwrite(str(images / "b.png"), cv2.resize(astronaut_small, (160, 120)))
    assert cli(capsys, "extract", images, "--model", "sift", "--out", feats).returncode == 0
    proc = cli(capsys, "match", "--features", feats, "--pairs", pairs, "--out", matches, "--json", tmp_path / "r.json")
    assert proc.returncode == 0
    import json
    assert json.loads((tmp_path / "r.json").read_text())["matched"] == 1
    with h5py.File(feats) as f, h5py.File(matches) as m:
        assert m["a.png/b.png"].attrs["features1"] == f["b.png"].attrs["features_id"]


# --- 5. names with spaces and non-ASCII names round-trip

def test_names_with_spaces_round_trip_through_pairs_and_match(capsys, tmp_path, astronaut_small):
    d = tmp_path / "photos"
    d.mkdir()
    names = ["IMG 001.png", "été à la mer.png", "plain.png"]
    for i, name in enumerate(names):
        ok, data = cv2.imencode(".png", np.roll(astronaut_small, 7 * i, axis=1))
        (d / name).write_bytes(data.tobytes())
    pairs, feats, matches = tmp_path / "p.txt", tmp_path / "f.h5", tmp_path / "m.h5"
    assert cli(capsys, "pairs", d, "--out", pairs).returncode == 0
    text = pairs.read_text(encoding="utf-8")
    assert '"IMG 001.png" "été à la mer.png"\n' in text and '"IMG 001.png" plain.png\n' in text
    assert cli(capsys, "extract", d, "--model", "sift", "--out", feats).returncode == 0
    proc = cli(capsys, "match", "--features", feats, "--pairs", pairs, "--out", matches)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(matches) as m:
        assert (m["IMG 001.png/été à la mer.png/matches0"][()] >= 0).sum() > 20


def test_pairs_file_lines_that_do_not_hold_two_names(capsys, images, tmp_path):
    feats = tmp_path / "f.h5"
    assert cli(capsys, "extract", images, "--model", "sift", "--out", feats).returncode == 0
    bad = tmp_path / "three.txt"
    bad.write_text("a.png b.png a.png\n")
    proc = cli(capsys, "match", "--features", feats, "--pairs", bad, "--out", tmp_path / "m.h5")
    assert_one_line_error(proc, f"{bad}:1", "two names")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("a.png b\xe9.png\n".encode("latin-1"))
    proc = cli(capsys, "match", "--features", feats, "--pairs", latin, "--out", tmp_path / "m.h5")
    assert_one_line_error(proc, str(latin), "UTF-8")
    assert not (tmp_path / "m.h5").exists()


# --- 6. nonsense values

@pytest.mark.parametrize("flag, value, fragment", [
    ("--max-keypoints", "0", "max_keypoints 0"), ("--max-keypoints", "-5", "max_keypoints -5"),
    ("--detection-threshold", "nan", "detection_threshold nan"), ("--resize-max", "8", "resize_max 8"),
    ("--nms-radius", "-3", "nms_radius -3")])
def test_nonsense_extractor_options(capsys, images, tmp_path, flag, value, fragment):
    proc = cli(capsys, "extract", images, "--model", "sift", flag, value, "--out", tmp_path / "f.h5")
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "f.h5").exists()


def test_nan_distance_threshold(capsys, images, tmp_path):
    feats, pairs = tmp_path / "f.h5", tmp_path / "p.txt"
    assert cli(capsys, "extract", images, "--model", "sift", "--out", feats).returncode == 0
    assert cli(capsys, "pairs", images, "--out", pairs).returncode == 0
    proc = cli(capsys, "match", "--features", feats, "--pairs", pairs, "--out", tmp_path / "m.h5",
               "--distance-threshold", "nan")
    assert_one_line_error(proc, "distance threshold nan")


# --- 7. outputs that cannot be written, inputs that cannot be read, a second run on one output

def test_a_folder_as_output_or_report_is_refused_before_the_work(capsys, images, tmp_path):
    folder = tmp_path / "dir"
    folder.mkdir()
    assert_one_line_error(cli(capsys, "extract", images, "--model", "sift", "--out", folder), str(folder), "folder")
    proc = cli(capsys, "extract", images, "--model", "sift", "--out", tmp_path / "f.h5", "--json", folder)
    assert_one_line_error(proc, str(folder), "folder")
    assert not (tmp_path / "f.h5").exists()  # refused before extracting


def test_a_huge_declared_image_is_refused_before_decoding(capsys, tmp_path):
    path = huge_png(tmp_path / "huge.png")
    proc = cli(capsys, "extract", path, "--model", "sift", "--out", tmp_path / "f.h5")
    assert_one_line_error(proc, str(path), "100000×100000")


def test_a_second_run_on_one_output_says_it_is_in_use(capsys, images, tmp_path):
    from slamfeat.io.outputs import output_lock

    out = tmp_path / "f.h5"
    with output_lock(out):  # a run in progress holds the output
        proc = cli(capsys, "extract", images, "--model", "sift", "--out", out)
        assert_one_line_error(proc, str(out), "in use")
    assert not (tmp_path / "f.h5.lock").exists()
    assert cli(capsys, "extract", images, "--model", "sift", "--out", out).returncode == 0
    # a lock left by a run that was killed is taken over
    gone = subprocess.Popen(["true"])
    gone.wait()  # its process id now names no running process
    (tmp_path / "f.h5.lock").write_text(f"{gone.pid} {socket.gethostname()}\n")
    assert cli(capsys, "extract", images, "--model", "sift", "--out", out, "--overwrite").returncode == 0
    assert not (tmp_path / "f.h5.lock").exists()


# --- 8. and 9. one line of our own, in the right words

def test_no_library_noise_before_the_line(tmp_path):
    from fixtures.core import run_cli

    good = tmp_path / "ok.png"
    cv2.imwrite(str(good), (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8))
    data = bytearray(good.read_bytes())
    data[60] ^= 0xFF  # a broken checksum inside the image data: libpng prints its own error
    bad = tmp_path / "crc.png"
    bad.write_bytes(bytes(data))
    assert_one_line_error(run_cli("extract", bad, "--model", "sift", "--out", tmp_path / "f.h5"), str(bad))
    proc = run_cli("extract", huge_png(tmp_path / "huge.png"), "--model", "sift", "--out", tmp_path / "f.h5")
    assert_one_line_error(proc, "huge.png")


def test_misleading_words_are_mended(capsys, images, tmp_path):
    assert_one_line_error(cli(capsys, "pairs", tmp_path / "missing", "--out", tmp_path / "p.txt"),
                          "no such folder")
    assert_one_line_error(cli(capsys, "pairs", images, "--mode", "sequential:0", "--out", tmp_path / "p.txt"),
                          "sequential:0", "at least 1")
    feats = tmp_path / "f.h5"
    with h5py.File(feats, "w") as f:
        for name in ("a.png", "b.png"):
            g = f.create_group(name)
            g["keypoints"] = np.zeros((256, 3), np.float32)
            g["scores"] = np.zeros(256, np.float32)
            g["descriptors"] = np.zeros((64, 256), np.float32)
            g["image_size"] = np.array([320, 240])
    pairs = tmp_path / "p.txt"
    pairs.write_text("a.png b.png\n")
    proc = cli(capsys, "match", "--features", feats, "--pairs", pairs, "--out", tmp_path / "m.h5")
    assert_one_line_error(proc, "256×3", "N×2")
    weights = tmp_path / "weights"
    weights.mkdir()
    proc = cli(capsys, "extract", images, "--model", "slamfeat-lite", "--weights", weights, "--out", feats)
    assert_one_line_error(proc, str(weights), "is a folder")


def test_the_quoting_rule_round_trips_awkward_names(tmp_path):
    from slamfeat.io.pairs import format_pairs, read_pairs

    pairs = [("IMG 001.jpg", "b.jpg"), ("#first.png", 'say "cheese".png'), ("back\\slash x.png", "tab\there.png"),
             ("naïve.png", "ok.png")]
    path = tmp_path / "p.txt"
    path.write_text(format_pairs(pairs), encoding="utf-8")
    assert read_pairs(path) == pairs
    assert path.read_text(encoding="utf-8").splitlines()[3] == "naïve.png ok.png"  # hloc's format, unquoted
    path.write_text('"open quote.png b.png\n', encoding="utf-8")
    with pytest.raises(Exception, match="not closed"):
        read_pairs(path)
