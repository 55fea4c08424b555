"""The matcher a user picks: per-descriptor defaults, LightGlue for teachers and for their students."""

import pytest
import torch

import slamfeat
from fixtures.core import small_image
from slamfeat.errors import BadInput
from slamfeat.features import load_extractor
from slamfeat.features.student import load_student
from slamfeat.io.checkpoint import read_checkpoint, student_checkpoint
from slamfeat.features.weights import PACKAGE_WEIGHTS
from slamfeat.matching import Matcher, MatcherConfig, match_pair
from slamfeat.matching.matcher import feature_kind

SHIFT = torch.tensor([7.0, 4.0])


def shifted(extractor):
    """Features of a photograph and of the same photograph shifted by (7, 4) pixels."""
    img = small_image("astronaut", (192, 144))
    return extractor.extract(img), extractor.extract(img[4:, 7:].copy())


def correct_matches(f0, f1, m0):
    ok = m0 >= 0
    err = (f0.keypoints[ok] - f1.keypoints[m0[ok]] - SHIFT).norm(dim=1)
    return int(ok.sum()), float((err < 2).float().mean()) if ok.any() else 0.0


@pytest.fixture(scope="module")
def base():
    return load_extractor("slamfeat-base", max_keypoints=256)


@pytest.mark.parametrize("ratio", [0.0, -0.5, 1.5, float("nan")])
def test_a_ratio_outside_zero_to_one_is_refused(ratio):
    with pytest.raises(BadInput, match=r"ratio .*\(0, 1\]"):
        Matcher(MatcherConfig(ratio=ratio))
    with pytest.raises(BadInput, match="distance threshold"):
        Matcher(MatcherConfig(distance_threshold=-1))


def test_sift_takes_lowes_ratio_by_default_and_a_given_ratio_wins():
    sift = load_extractor("sift", max_keypoints=300)
    f0, f1 = shifted(sift)
    default = Matcher(MatcherConfig(), sift)
    assert default.ratio == 0.8 and default.describe()["ratio_is_default"]
    m0, _ = default.match(f0, f1)
    assert torch.equal(m0, match_pair(f0, f1, ratio=0.8)[0])
    assert torch.equal(Matcher(MatcherConfig(ratio=0.6), "sift").match(f0, f1)[0], match_pair(f0, f1, ratio=0.6)[0])
    # ratio 1 turns the test off: plain mutual nearest neighbours, more of them
    off = Matcher(MatcherConfig(ratio=1.0), "sift").match(f0, f1)[0]
    assert torch.equal(off, match_pair(f0, f1)[0]) and (off >= 0).sum() > (m0 >= 0).sum()
    n, precision = correct_matches(f0, f1, m0)
    assert n > 50 and precision > 0.95
    # other float features keep plain mutual nearest neighbours
    assert Matcher(MatcherConfig(), "disk").ratio is None


def test_orb_is_matched_by_hamming_distance():
    orb = load_extractor("orb", max_keypoints=300)
    f0, f1 = shifted(orb)
    assert f0.binary
    m0, s0 = slamfeat.match_features(f0, f1, model=orb, distance_threshold=64)
    n, precision = correct_matches(f0, f1, m0)
    assert n > 40 and precision > 0.9
    ok = m0 >= 0
    bits = (f0.descriptors[ok] != f1.descriptors[m0[ok]]).sum(1)
    assert (bits <= 64).all() and torch.allclose(s0[ok], 1 - bits / 256)


def test_the_base_student_inherits_aliked_lightglue(base):
    kind = feature_kind("slamfeat-base")
    assert kind.lightglue == "aliked-n16" and kind.teacher == "aliked-n16" and kind.to_lightglue is None
    assert base.teacher == "aliked-n16"
    f0, f1 = shifted(base)
    matcher = Matcher(MatcherConfig("lightglue"), base)
    d = matcher.describe()
    assert d["weights"] == "aliked_lightglue.pth" and d["teacher"] == "aliked-n16" and d["teacher_space"] == "identity"
    m0, s0 = matcher.match(f0, f1)
    n, precision = correct_matches(f0, f1, m0)
    assert n > 60 and precision > 0.9
    assert torch.equal(slamfeat.match_features(f0, f1, "lightglue", model="slamfeat-base")[0], m0)


def rotated_student(tmp_path, Q):
    """slamfeat-base with its descriptor head turned by ``Qᵀ`` (orthogonal), and ``Q`` as its projection."""
    ckpt = read_checkpoint(PACKAGE_WEIGHTS / "slamfeat-base.pt")
    sd = dict(ckpt["state_dict"])
    last = max(int(k.split(".")[1]) for k in sd if k.startswith("descriptor.") and k.endswith(".weight"))
    w, b = sd[f"descriptor.{last}.weight"], sd[f"descriptor.{last}.bias"]
    sd[f"descriptor.{last}.weight"] = torch.einsum("ji,jkxy->ikxy", Q, w)
    sd[f"descriptor.{last}.bias"] = Q.t() @ b
    out = {**ckpt, "state_dict": sd, "projection": {"weight": Q}}
    path = tmp_path / "rotated.pt"
    torch.save(out, path)
    return load_student(path, max_keypoints=256)


def test_the_learned_projection_takes_descriptors_into_the_teacher_space(base, tmp_path):
    Q = torch.linalg.qr(torch.randn(128, 128, generator=torch.Generator().manual_seed(0)))[0]
    student = rotated_student(tmp_path, Q)
    g0, g1 = shifted(student)
    f0, f1 = shifted(base)
    assert torch.allclose(student.to_teacher_space(g0.descriptors), f0.descriptors, atol=1e-4)
    m_base, _ = Matcher(MatcherConfig("lightglue"), base).match(f0, f1)
    matcher = Matcher(MatcherConfig("lightglue"), student)
    assert matcher.describe()["teacher_space"] == "projection"
    m_rot, _ = matcher.match(g0, g1)
    assert (m_rot == m_base).float().mean() > 0.98
    assert correct_matches(g0, g1, m_rot)[1] > 0.9


def test_a_64d_student_uses_a_128d_lightglue_through_its_projection(tmp_path):
    from slamfeat.features.student import build_student
    torch.manual_seed(0)
    student = build_student("slamfeat-lite")
    W = torch.randn(128, 64)
    path = tmp_path / "lite.pt"
    torch.save(student_checkpoint(student, teacher="aliked-n16", teacher_dim=128, descriptor_space="teacher",
                                  projection={"weight": W}), path)
    loaded = load_student(path, max_keypoints=64, detection_threshold=0.0)
    f0, f1 = shifted(loaded)
    t = loaded.to_teacher_space(f0.descriptors)
    assert t.shape == (len(f0), 128) and torch.allclose(t.norm(dim=1), torch.ones(len(f0)))
    assert torch.allclose(t, torch.nn.functional.normalize(f0.descriptors @ W.t(), dim=1))
    m0, s0 = Matcher(MatcherConfig("lightglue"), str(path)).match(f0, f1)
    assert m0.shape == (len(f0),) and ((s0 > 0) == (m0 >= 0)).all()


def test_features_without_a_lightglue_say_what_works(tmp_path):
    from slamfeat.features.student import build_student
    no_projection = tmp_path / "lite_without_projection.pt"
    torch.save(student_checkpoint(build_student("slamfeat-lite"), teacher="aliked-n16", descriptor_space="teacher"),
               no_projection)
    for model, words in (("orb", ["orb", "disk", "aliked", "nn matcher"]),
                         ("sift", ["sift", "nn matcher"]),
                         ("aliked-t16", ["128-D", "64-D"]),
                         (str(no_projection), ["64-D", "projection", "aliked-n16", "nn matcher"])):
        with pytest.raises(BadInput) as e:
            Matcher(MatcherConfig("lightglue"), model)
        assert all(w in str(e.value) for w in words), str(e.value)
        assert "\n" not in str(e.value)
    # the shipped lite keeps the absolute loss's 64→128 projection: it inherits aliked-n16's LightGlue
    assert Matcher(MatcherConfig("lightglue"), "slamfeat-lite").describe()["teacher"] == "aliked-n16"
    from slamfeat.features.student import build_student
    bare = tmp_path / "bare.pt"
    torch.save(student_checkpoint(build_student("slamfeat-base")), bare)
    with pytest.raises(BadInput, match="without a recorded teacher"):
        Matcher(MatcherConfig("lightglue"), str(bare))
    own = tmp_path / "own.pt"
    torch.save(student_checkpoint(build_student("slamfeat-base"), teacher="disk", descriptor_space="own"), own)
    with pytest.raises(BadInput, match="without the absolute loss"):
        Matcher(MatcherConfig("lightglue"), str(own))
    with pytest.raises(BadInput, match="unknown model"):
        Matcher(MatcherConfig("lightglue"), "no-such-model")


def test_lightglue_batches_give_what_pairs_give_alone(base):
    f0, f1 = shifted(base)
    g0, g1 = shifted(load_extractor("slamfeat-base", max_keypoints=200))
    matcher = Matcher(MatcherConfig("lightglue"), base)
    pairs = [(f0, f1), (g0, g1), (f1, f0), (g0, g1)]
    together = matcher.match_many(pairs, batch_size=4)
    for (a, b), (m, s) in zip(pairs, together):
        alone = matcher.match(a, b)
        assert torch.equal(m, alone[0]) and torch.allclose(s, alone[1])


def test_students_of_disk_and_xfeat_pick_their_teachers_matchers(tmp_path):
    from slamfeat.features.student import build_student
    for arch, teacher, weights in (("slamfeat-base", "disk", "disk_lightglue.pth"),
                                   ("slamfeat-lite", "xfeat", "xfeat-lighterglue.pt")):
        path = tmp_path / f"{teacher}.pt"
        torch.save(student_checkpoint(build_student(arch), teacher=teacher, descriptor_space="teacher"), path)
        matcher = Matcher(MatcherConfig("lightglue"), str(path))
        assert matcher.describe()["weights"] == weights and matcher.describe()["teacher"] == teacher
    # a 128-D student of the 64-D xfeat needs its projection
    path = tmp_path / "base_xfeat.pt"
    torch.save(student_checkpoint(build_student("slamfeat-base"), teacher="xfeat", descriptor_space="teacher"), path)
    with pytest.raises(BadInput, match="128-D descriptors, and the checkpoint holds no projection"):
        Matcher(MatcherConfig("lightglue"), str(path))
