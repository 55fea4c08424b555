"""The distilled students: extraction, checkpoints, the registry, bad files."""

import pytest
import torch

from fixtures.core import small_image
from slamfeat.errors import BadInput
from slamfeat.features import REGISTRY, load_extractor
from slamfeat.features.student import ARCHS, build_student, load_student, refine_subpixel
from slamfeat.io.checkpoint import student_checkpoint


@pytest.fixture(scope="module")
def lite_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("student") / "lite.pt"
    torch.save(student_checkpoint(build_student("slamfeat-lite", descriptor_dim=48),
                                  conf={"detection_threshold": 0.0}), path)
    return path


def test_extract_gives_sorted_unit_features_inside_the_image(astronaut_small, lite_ckpt):
    model = load_student(lite_ckpt, max_keypoints=300)
    f = model.extract(astronaut_small)
    h, w = astronaut_small.shape[:2]
    assert f.image_size == (w, h) and 0 < len(f) <= 300
    assert f.descriptors.shape == (len(f), 48)
    assert torch.allclose(f.descriptors.norm(dim=1), torch.ones(len(f)), atol=1e-4)
    assert torch.all(f.scores[:-1] >= f.scores[1:])
    b = model.conf["remove_borders"]
    assert f.keypoints[:, 0].min() >= b - 1 and f.keypoints[:, 0].max() <= w - b
    assert f.keypoints[:, 1].min() >= b - 1 and f.keypoints[:, 1].max() <= h - b


def test_odd_sizes_and_saved_options(lite_ckpt):
    model = load_extractor(str(lite_ckpt))  # --model PATH.pt goes through the registry too
    assert model.conf["detection_threshold"] == 0.0  # saved in the checkpoint
    f = model.extract(torch.rand(3, 77, 101))
    assert f.image_size == (101, 77) and len(f) > 0
    assert load_student(lite_ckpt, detection_threshold=0.5).conf["detection_threshold"] == 0.5


def test_subpixel_refinement_leans_towards_the_stronger_neighbour():
    logits = torch.full((9, 9), -10.0)
    logits[4, 4], logits[4, 5] = 5.0, 4.0
    kp = refine_subpixel(logits, torch.tensor([[4, 4]]))
    assert 4.0 < kp[0, 0] < 4.5 and kp[0, 1] == pytest.approx(4.0, abs=1e-3)


def test_presets_and_shipped_students():
    lite, base = build_student("slamfeat-lite"), build_student("slamfeat-base")
    assert lite.num_parameters() < base.num_parameters() / 5
    assert base.descriptor_dim == REGISTRY["slamfeat-base"].descriptor_dim
    assert set(ARCHS) == {"slamfeat-lite", "slamfeat-base"}
    for name in ("slamfeat-lite", "slamfeat-base"):
        shipped = load_extractor(name)
        assert shipped.kind == "student" and shipped.descriptor_dim == REGISTRY[name].descriptor_dim


@pytest.mark.parametrize("name", ["slamfeat-lite", "slamfeat-base"])
def test_shipped_students_match_a_warped_photograph(name):
    """The shipped weights find and describe the same points of a photograph and its rotated,
    scaled warp: most mutual matches land within 3 px of where the homography puts them."""
    import cv2
    import numpy as np
    import skimage.data

    from slamfeat.matching import match_batch

    image = cv2.resize(skimage.data.astronaut(), (320, 320))
    H = cv2.getRotationMatrix2D((160, 160), 15, 0.9)
    H = np.vstack([H, [0, 0, 1]])
    warped = cv2.warpPerspective(image, H, (320, 320))
    model = load_extractor(name, max_keypoints=500)
    f0, f1 = model.extract(image), model.extract(warped)
    assert len(f0) > 200 and len(f1) > 200
    m0, _ = match_batch(f0.descriptors[None], f1.descriptors[None])
    i = torch.nonzero(m0[0] >= 0)[:, 0]
    p = np.c_[f0.keypoints[i].numpy(), np.ones(len(i))] @ H.T
    err = np.linalg.norm(p[:, :2] / p[:, 2:] - f1.keypoints[m0[0, i]].numpy(), axis=1)
    assert len(i) > 100 and (err < 3).mean() > 0.8, (len(i), (err < 3).mean())


def test_bad_checkpoints_raise_bad_input(tmp_path):
    with pytest.raises(BadInput, match="no such"):
        load_student(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(BadInput, match="corrupt"):
        load_student(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"conv.weight": torch.zeros(3)}, foreign)
    with pytest.raises(BadInput, match="not a slamfeat student"):
        load_student(foreign)
    wrong = tmp_path / "wrong.pt"
    ckpt = student_checkpoint(build_student("slamfeat-lite"))
    ckpt["arch_conf"]["descriptor_dim"] = 32  # settings that the saved weights do not fit
    torch.save(ckpt, wrong)
    with pytest.raises(BadInput, match="do not fit"):
        load_student(wrong)
    with pytest.raises(BadInput):
        build_student("slamfeat-huge")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_replay_gives_the_eager_features():
    import skimage.data

    photo = torch.from_numpy(skimage.data.astronaut()[:480, :480]).permute(2, 0, 1).float().div(255)
    batch = torch.stack([photo, photo.flip(-1)]).cuda()
    eager = load_extractor("slamfeat-lite", device="cuda", cuda_graphs=False)
    graphed = load_extractor("slamfeat-lite", device="cuda")
    with torch.inference_mode():
        want = eager(batch)
        for _ in range(3):  # eager, capture, replay
            got = graphed(batch)
    assert graphed.__dict__.get("_graphs"), "no graph was captured"
    for a, b in zip(want, got):
        assert len(a) == len(b) > 100
        assert torch.allclose(a.keypoints, b.keypoints, atol=1e-4)
        assert torch.allclose(a.descriptors, b.descriptors, atol=1e-3)


def test_batched_decoding_equals_one_image_at_a_time(astronaut_small):
    model = load_extractor("slamfeat-lite", max_keypoints=400)
    x = torch.from_numpy(astronaut_small).permute(2, 0, 1).float().div(255)
    batch = torch.stack([x, x.flip(-1), x.flip(-2)])
    with torch.inference_mode():
        together = model(batch)
        alone = [model(batch[i:i + 1])[0] for i in range(3)]
    for a, b in zip(together, alone):
        assert len(a) == len(b) > 50
        assert torch.allclose(a.keypoints, b.keypoints, atol=1e-3)
        assert torch.allclose(a.descriptors, b.descriptors, atol=1e-3)


@pytest.mark.parametrize("name", ["slamfeat-lite", "slamfeat-base"])
def test_keypoint_budget_is_filled_on_textured_photographs(name):
    """``max_keypoints=2048`` gives 2,048 keypoints on textured 480×640 photographs, with the shipped
    weights and with the student's own default threshold (what a freshly distilled one keeps)."""
    shipped = load_extractor(name, max_keypoints=2048)
    assert shipped.conf["detection_threshold"] == build_student(name).conf["detection_threshold"]
    for photo in ("gravel", "chelsea"):
        assert len(shipped.extract(small_image(photo, (640, 480)))) == 2048
    assert len(shipped.extract(small_image("brick", (640, 480)))) < 2048  # a flat wall has fewer corners


def test_cell_peaks_keep_one_peak_per_neighbourhood():
    """Two strong pixels 2 px apart in neighbouring cells: only the stronger survives NMS radius 2;
    at 6 px apart both survive."""
    from slamfeat.features.student import cell_peaks

    def peaks(x0, x1):
        full = torch.full((1, 1, 16, 16), -10.0)
        full[0, 0, 8, x0], full[0, 0, 8, x1] = 5.0, 4.0
        cells = torch.nn.functional.pixel_unshuffle(full, 4)
        logits, x, y = cell_peaks(cells, (16, 16), nms_radius=2, border=0)
        keep = torch.isfinite(logits[0]) & (logits[0] > 0)
        return sorted(x[0][keep].tolist())

    assert peaks(3, 5) == [3]
    assert peaks(2, 8) == [2, 8]


def test_scales_merge_the_keypoints_of_each_resized_image():
    """``scales``: each factor's keypoints are those of the resized image mapped back to the image's
    pixels, and the merged set keeps the best-scored of them all, sorted, within the budget."""
    import torch.nn.functional as F

    from slamfeat.features.base import image_to_tensor

    image = small_image("astronaut", (320, 256))
    one = load_extractor("slamfeat-lite", max_keypoints=400)
    half = load_extractor("slamfeat-lite", max_keypoints=400, scales=[0.5])
    both = load_extractor("slamfeat-lite", max_keypoints=400, scales=[1, 0.5])
    assert both.conf["scales"] == [1.0, 0.5] and one.conf["scales"] == [1.0]
    small = F.interpolate(image_to_tensor(image), size=(128, 160), mode="bilinear",
                          align_corners=False, antialias=True)
    f_small, f_half = one.extract_batch(small)[0], half.extract(image)
    assert f_half.image_size == (320, 256)
    assert torch.allclose(f_half.keypoints, (f_small.keypoints + 0.5) * 2 - 0.5, atol=1e-4)
    assert torch.allclose(f_half.descriptors, f_small.descriptors, atol=1e-5)
    f_one, f_both = one.extract(image), both.extract(image)
    assert len(f_both) == 400 and torch.all(f_both.scores[:-1] >= f_both.scores[1:])
    pool = torch.cat([f_one.scores, f_half.scores])
    assert torch.allclose(f_both.scores, pool.sort(descending=True).values[:400])
    from_half = torch.cdist(f_both.keypoints, f_one.keypoints).min(1).values > 0.5
    assert 20 < from_half.sum() < 380  # both scales contribute


@pytest.mark.parametrize("name", ["slamfeat-lite", "slamfeat-base"])
def test_scales_match_a_photograph_to_its_zoom(name):
    """Zoomed in 2.5×, a photograph's details are larger than anything one scale was trained to see;
    with ``scales=[1, 0.5]`` the shipped students find many more correct matches (3 px)."""
    import cv2
    import numpy as np

    from slamfeat.matching import match_batch

    image = small_image("astronaut", (480, 480))
    H = np.vstack([cv2.getRotationMatrix2D((240, 240), 5, 2.5), [0, 0, 1]])
    zoomed = cv2.warpPerspective(image, H, (480, 480), flags=cv2.INTER_CUBIC)
    correct = {}
    for scales in ([1.0], [1.0, 0.5]):
        model = load_extractor(name, max_keypoints=1000, scales=scales)
        f0, f1 = model.extract(image), model.extract(zoomed)
        m0, _ = match_batch(f0.descriptors[None], f1.descriptors[None])
        i = torch.nonzero(m0[0] >= 0)[:, 0]
        p = np.c_[f0.keypoints[i].numpy(), np.ones(len(i))] @ H.T
        err = np.linalg.norm(p[:, :2] / p[:, 2:] - f1.keypoints[m0[0, i]].numpy(), axis=1)
        correct[len(scales)] = int((err < 3).sum())
    assert correct[2] > 2 * correct[1] + 20, correct


def test_bad_scales_raise_bad_input():
    assert load_extractor("slamfeat-lite", scales="1,0.6").conf["scales"] == [1.0, 0.6]  # as the CLI spells it
    for scales in ([], [0], [1, 3], [1, 1], ["a"], 1.0, "1,x", [1, 0.8, 0.6, 0.4, 0.2]):
        with pytest.raises(BadInput, match="scales"):
            load_extractor("slamfeat-lite", scales=scales)
    with pytest.raises(BadInput, match="one scale only"):
        load_extractor("orb", scales=[1, 0.5])
