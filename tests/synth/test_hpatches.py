"""The synthetic HPatches set: format, determinism, and homographies that really relate the images."""

import cv2
import numpy as np

from fixtures.core import assert_one_line_error
from fixtures.hpatches import make_tiny_hpatches, run_main
from slamfeat.datasets.hpatches import load_hpatches
from slamfeat.geometry.homography import corner_error
from slamfeat.io import read_image


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_files_other_seed_other_files(tiny_hpatches, tmp_path):
    again = _files(make_tiny_hpatches(tmp_path / "a", seed=0))
    assert again == _files(tiny_hpatches)
    other = _files(make_tiny_hpatches(tmp_path / "b", seed=1))
    assert other.keys() == again.keys() and other != again


def test_homographies_relate_the_images(tiny_hpatches):
    """Image k agrees with image 1 warped by H_1_k where both see the scene; a wrong H does not."""
    seq = load_hpatches(tiny_hpatches, kinds=("v",))[0]
    im1 = read_image(seq.images[0], grayscale=True).astype(np.float32)
    h, w = im1.shape
    for _, k, H in seq.pairs():
        imk = read_image(seq.images[k - 1], grayscale=True).astype(np.float32)
        valid = cv2.warpPerspective(np.ones_like(im1), H, (w, h), flags=cv2.INTER_NEAREST) > 0
        valid = cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        # 1 − correlation: blind to the mild photometric change of v_* images
        def misfit(G):
            return 1 - np.corrcoef(cv2.warpPerspective(im1, G, (w, h))[valid], imk[valid])[0, 1]

        good = misfit(H)
        for dx, dy in ((1, 0), (0, 1), (-1, 0), (0, -1)):
            shifted = H.copy()
            shifted[0] += dx * H[2]  # image k moved by one pixel
            shifted[1] += dy * H[2]
            assert good < 0.7 * misfit(shifted), (k, dx, dy)
        assert valid.mean() > 0.2 and good < 0.05


def test_change_grows_along_the_sequence(tiny_hpatches):
    i_seq, v_seq = load_hpatches(tiny_hpatches)
    errors = [corner_error(np.eye(3), H, (160, 120)) for _, _, H in v_seq.pairs()]
    assert errors[-1] > errors[0] > 1.0
    im1 = read_image(i_seq.images[0]).astype(np.float32)
    diffs = [np.abs(read_image(p).astype(np.float32) - im1).mean() for p in i_seq.images[1:]]
    assert diffs[-1] > diffs[0] > 0.5


def test_cli_writes_set_and_rejects_bad_values(tmp_path, capsys):
    out = tmp_path / "synth"
    proc = run_main(capsys, "synth", "hpatches", "--out", out, "--sequences", "3", "--max-size", "96", "--seed", "2")
    assert proc.returncode == 0, proc.stderr
    assert "3 sequences" in proc.stdout
    seqs = load_hpatches(out)
    assert [s.kind for s in seqs] == ["i", "i", "v"]
    assert read_image(seqs[0].images[0]).shape == (72, 96, 3)
    assert_one_line_error(run_main(capsys, "synth", "hpatches", "--out", out, "--sequences", "0"), "--sequences")
    assert_one_line_error(run_main(capsys, "synth", "hpatches", "--out", out, "--max-size", "10"), "--max-size")


def test_set_from_a_folder_of_photographs(tmp_path, capsys):
    """``--images DIR``: one sequence per photograph (i_* and v_* in turn, named after the files),
    each image 1 the photograph itself, and homographies that relate the images as for the built-in set."""
    from fixtures.core import small_image

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("coffee", "chelsea", "astronaut"):
        cv2.imwrite(str(photos / f"{name}.jpg"), cv2.cvtColor(small_image(name, (200, 150)), cv2.COLOR_RGB2BGR))
    gray = cv2.cvtColor(small_image("camera", (150, 200)), cv2.COLOR_RGB2GRAY)  # portrait, gray, 16-bit
    cv2.imwrite(str(photos / "d_camera.png"), gray.astype(np.uint16) * 257)
    out = tmp_path / "set"
    proc = run_main(capsys, "synth", "hpatches", "--images", photos, "--out", out, "--max-size", "96",
                    "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    assert "4 sequences" in proc.stdout and str(photos) in proc.stdout
    seqs = {s.name: s for s in load_hpatches(out)}
    assert set(seqs) == {"i_astronaut", "v_chelsea", "i_coffee", "v_d_camera"}
    # image 1 is the photograph (scaled to cover 96×72 with the margin, centre-cropped)
    coffee = read_image(seqs["i_coffee"].images[0]).astype(np.float32)
    source = cv2.resize(small_image("coffee", (200, 150)), (125, 94), interpolation=cv2.INTER_AREA)[11:83, 14:110]
    assert coffee.shape == (72, 96, 3) and np.corrcoef(coffee.ravel(), source.astype(np.float32).ravel())[0, 1] > 0.95
    v = seqs["v_chelsea"]
    im1 = read_image(v.images[0], grayscale=True).astype(np.float32)
    for _, k, H in v.pairs():
        imk = read_image(v.images[k - 1], grayscale=True).astype(np.float32)
        valid = cv2.warpPerspective(np.ones_like(im1), H, (96, 72), flags=cv2.INTER_NEAREST) > 0
        valid = cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert np.corrcoef(cv2.warpPerspective(im1, H, (96, 72))[valid], imk[valid])[0, 1] > 0.9, k
    assert corner_error(np.eye(3), list(v.pairs())[-1][2], (96, 72)) > 5
    again = run_main(capsys, "synth", "hpatches", "--images", photos, "--out", tmp_path / "two", "--max-size", "96",
                     "--sequences", "6")
    assert again.returncode == 0 and "6 sequences" in again.stdout
    assert {s.name for s in load_hpatches(tmp_path / "two")} >= {"i_astronaut_2", "v_chelsea_2"}
    assert _files(tmp_path / "two" / "v_chelsea") == _files(out / "v_chelsea")  # same seed, same sequence
    assert_one_line_error(run_main(capsys, "synth", "hpatches", "--images", tmp_path / "none", "--out", out),
                          "none", "no such folder")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_main(capsys, "synth", "hpatches", "--images", tmp_path / "empty", "--out", out),
                          "no images")


def _zoom_at_centre(H, size=(96, 72)):
    """Linear zoom of ``H`` at the image centre: the square root of the area ratio of a small square."""
    c = np.array([(size[0] - 1) / 2, (size[1] - 1) / 2])
    square = (c + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)).reshape(-1, 1, 2)
    return np.sqrt(cv2.contourArea(cv2.perspectiveTransform(square, H).astype(np.float32)) / 4)


def test_scale_sequences_zoom_in_by_the_asked_factor(tmp_path, capsys):
    """``--kind v --max-zoom Z --zoom-in``: only viewpoint sequences, each zooming in, image 6 by 0.8 Z to Z
    (the homography's area scale), and the images still related by their homographies."""
    out = tmp_path / "zoom"
    proc = run_main(capsys, "synth", "hpatches", "--out", out, "--sequences", "3", "--max-size", "96", "--kind", "v",
                    "--max-zoom", "2.5", "--zoom-in", "--max-rotation", "5", "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    seqs = load_hpatches(out)
    assert [s.kind for s in seqs] == ["v", "v", "v"]
    for seq in seqs:
        scales = [_zoom_at_centre(H) for _, _, H in seq.pairs()]
        assert scales[0] > 1 and 2.5 * 0.8 * 0.85 < scales[-1] < 2.5 * 1.15, (seq.name, scales)
        im1 = read_image(seq.images[0], grayscale=True).astype(np.float32)
        im6 = read_image(seq.images[-1], grayscale=True).astype(np.float32)
        H = list(seq.pairs())[-1][2]
        valid = cv2.warpPerspective(np.ones_like(im1), H, (96, 72), flags=cv2.INTER_NEAREST) > 0
        assert np.corrcoef(cv2.warpPerspective(im1, H, (96, 72))[valid], im6[valid])[0, 1] > 0.8
    # the default set zooms out in some sequences and by at most 1.6
    default = tmp_path / "default"
    assert run_main(capsys, "synth", "hpatches", "--out", default, "--sequences", "8", "--max-size", "96",
                    "--kind", "v").returncode == 0
    last = [_zoom_at_centre(list(s.pairs())[-1][2]) for s in load_hpatches(default)]
    assert min(last) < 1 < max(last) and max(last) < 1.6 * 1.15
    # --zoom-in draws the same numbers: the sequences that zoomed in anyway are byte for byte the same
    zoom_in = tmp_path / "zoom_in"
    assert run_main(capsys, "synth", "hpatches", "--out", zoom_in, "--sequences", "8", "--max-size", "96",
                    "--kind", "v", "--zoom-in").returncode == 0
    same = [s.name for s, z in zip(load_hpatches(default), last) if z > 1]
    assert same and all(_files(zoom_in / name) == _files(default / name) for name in same)
    assert all(_zoom_at_centre(list(s.pairs())[-1][2]) > 1 for s in load_hpatches(zoom_in))
    for flag, value in (("--max-zoom", "5"), ("--max-zoom", "nan"), ("--max-rotation", "200")):
        assert_one_line_error(run_main(capsys, "synth", "hpatches", "--out", out, flag, value), flag)
