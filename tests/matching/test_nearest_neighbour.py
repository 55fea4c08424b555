"""match_batch against a brute-force reference: every mode, metric, padding, empty sides, chunks."""

import pytest
import torch

from fixtures.matching import brute_force_matches, correlated_pair, random_bits, random_unit
from slamfeat.errors import BadInput
from slamfeat.matching import match_batch, pad_descriptors
from slamfeat.matching import nearest_neighbour as nn_module
from slamfeat.matching import passes, similarity
from slamfeat.matching.nearest_neighbour import MatchRule, SlicePlan

MODES = [
    dict(mutual=True),
    dict(mutual=False),
    dict(mutual=False, ratio=0.9),
    dict(mutual=True, ratio=0.8),
    dict(mutual=False, distance_threshold="t"),
    dict(mutual=True, ratio=0.9, distance_threshold="t"),
]
# sizes with N0 ≠ N1, single keypoints and empty sides
SIZES = [(37, 52), (64, 20), (1, 9), (9, 1), (0, 12), (15, 0), (41, 41)]


def _mode(mode, metric):
    threshold = {"hamming": 20, "l2": 1.6}.get(metric, 0.9)
    return {k: (threshold if v == "t" else v) for k, v in mode.items()}


def _pairs(metric, dim, seed=0):
    pairs = []
    for k, (n0, n1) in enumerate(SIZES):
        a, b = correlated_pair(n0, n1, dim, seed + k, binary=metric == "hamming")
        if metric == "l2":  # not unit vectors
            a, b = a * (1 + torch.arange(n0)[:, None] % 3), b * 2
        pairs.append((a, b))
    return pairs


def _assert_like_reference(pairs, metric, mode, **kwargs):
    d0, m0 = pad_descriptors([a for a, _ in pairs])
    d1, m1 = pad_descriptors([b for _, b in pairs])
    matches, scores = match_batch(d0, d1, m0, m1, metric=metric, **mode, **kwargs)
    assert matches.dtype == torch.int64 and scores.dtype == torch.float32
    for k, (a, b) in enumerate(pairs):
        ref_m, ref_s = brute_force_matches(a.numpy(), b.numpy(), metric, **mode)
        assert matches[k, :len(a)].tolist() == ref_m.tolist(), (k, metric, mode)
        assert torch.allclose(scores[k, :len(a)].double(), torch.from_numpy(ref_s), atol=1e-5)
        assert (matches[k, len(a):] == -1).all() and (scores[k, len(a):] == 0).all()
    return matches, scores


@pytest.mark.parametrize("metric", ["cosine", "l2", "hamming"])
@pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(m))
def test_padded_batch_matches_reference(metric, mode):
    mode = _mode(mode, metric)
    matches, _ = _assert_like_reference(_pairs(metric, 32 if metric != "hamming" else 64), metric, mode)
    assert (matches >= 0).sum() > 20  # the correlated halves do match


@pytest.mark.parametrize("metric", ["cosine", "hamming"])
def test_chunked_equals_unchunked(metric, monkeypatch):
    pairs = _pairs(metric, 24)
    d0, m0 = pad_descriptors([a for a, _ in pairs])
    d1, m1 = pad_descriptors([b for _, b in pairs])
    seen = []
    add = passes.Pass.add
    monkeypatch.setattr(passes.Pass, "add", lambda self, sim, r0: (seen.append(sim.shape), add(self, sim, r0)))
    for mode in (dict(), dict(ratio=0.9, distance_threshold=_mode({"x": "t"}, metric)["x"])):
        seen.clear()
        whole = match_batch(d0, d1, m0, m1, metric=metric, **mode)
        assert len(seen) == 1
        seen.clear()
        budget = 0.008  # MB: a few rows per chunk, and fewer pairs per slice
        chunked = match_batch(d0, d1, m0, m1, metric=metric, max_memory_mb=budget, **mode)
        assert len(seen) > 5
        assert max(s[0] * s[1] * s[2] * 4 for s in seen) <= max(budget * 2 ** 20, 4 * seen[0][2])
        assert torch.equal(whole[0], chunked[0]) and torch.equal(whole[1], chunked[1])


def test_ties_go_to_the_lowest_index_for_bits():
    # 6-bit descriptors: many equal Hamming distances
    for seed in range(4):
        a, b = random_bits(70, 6, seed), random_bits(50, 6, seed + 10)
        for mode in (dict(), dict(ratio=1.0), dict(mutual=False, distance_threshold=1)):
            _assert_like_reference([(a, b)], "hamming", mode)


def test_duplicate_float_descriptors():
    a = random_unit(30, 16, 1)
    b = torch.cat([a[:8], a[:8], random_unit(10, 16, 2)])
    a = torch.cat([a, a[:4]])
    m, _ = _assert_like_reference([(a, b)], "cosine", dict())
    assert (m[0, :8] == torch.arange(8)).all()  # the first copy wins


@pytest.mark.parametrize("name,metric", [("sift", "cosine"), ("orb", "hamming")])
def test_real_descriptors(real_descriptors, name, metric):
    f0, f1 = real_descriptors[name]
    pairs = [(f0.descriptors, f1.descriptors), (f1.descriptors[:100], f0.descriptors)]
    for mode in (dict(), dict(ratio=0.8), dict(mutual=False, ratio=0.9, distance_threshold=_mode({"x": "t"}, metric)["x"])):
        matches, _ = _assert_like_reference(pairs, metric, mode)
        assert (matches[0] >= 0).sum() > 30


def test_float64_inputs_give_float64_decisions():
    a, b = correlated_pair(40, 30, 16, 3)
    m64, s64 = match_batch(a.double()[None], b.double()[None], ratio=0.9)
    ref_m, _ = brute_force_matches(a.double().numpy(), b.double().numpy(), ratio=0.9)
    assert m64[0].tolist() == ref_m.tolist() and s64.dtype == torch.float32


def test_sixteen_thousand_keypoints_in_bounded_chunks(monkeypatch):
    n, dim, budget = 16384, 8, 64
    a, b = correlated_pair(n, n, dim, 7, noise=0.02)
    biggest = []
    add = passes.Pass.add
    monkeypatch.setattr(passes.Pass, "add",
                        lambda self, sim, r0: (biggest.append(sim.numel() * sim.element_size()), add(self, sim, r0)))
    matches, scores = match_batch(a[None], b[None], max_memory_mb=budget)
    assert len(biggest) > 1 and max(biggest) <= budget * 2 ** 20
    # spot-check rows against the reference definition
    rows = torch.arange(0, n, 997)
    sim = a[rows] @ b.T
    nn01 = sim.argmax(1)
    back = (a @ b[nn01].T).argmax(0)
    expected = torch.where(back == rows, nn01, -1)
    assert torch.equal(matches[0, rows], expected)
    assert (matches[0] >= 0).float().mean() > 0.3


def test_empty_batch_and_sides():
    m, s = match_batch(torch.zeros(2, 0, 8), torch.zeros(2, 5, 8))
    assert m.shape == (2, 0) and s.shape == (2, 0)
    m, s = match_batch(torch.rand(2, 4, 8), torch.zeros(2, 0, 8))
    assert (m == -1).all() and (s == 0).all()
    m, _ = match_batch(random_unit(4, 8, 0)[None], random_unit(3, 8, 1)[None], torch.zeros(1, 4, dtype=torch.bool))
    assert (m == -1).all()


@pytest.mark.parametrize("bad,fragment", [
    (dict(desc1=torch.rand(1, 5, 7)), "sizes differ"),
    (dict(desc0=torch.full((1, 4, 8), float("nan"))), "NaN"),
    (dict(metric="manhattan"), "metric"),
    (dict(ratio=1.5), "ratio"),
    (dict(mask0=torch.ones(1, 3, dtype=torch.bool)), "mask0"),
])
def test_bad_input(bad, fragment):
    args = dict(desc0=torch.rand(1, 4, 8), desc1=torch.rand(1, 5, 8))
    args.update(bad)
    with pytest.raises(BadInput, match=fragment):
        match_batch(**args)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("metric", ["cosine", "hamming"])
def test_cuda_half_gives_the_float32_result(metric):
    pairs = _pairs(metric, 64)
    d0, m0 = pad_descriptors([a for a, _ in pairs])
    d1, m1 = pad_descriptors([b for _, b in pairs])
    for mode in MODES:
        mode = _mode(mode, metric)
        cpu = match_batch(d0, d1, m0, m1, metric=metric, **mode)
        gpu = match_batch(d0.cuda(), d1.cuda(), m0.cuda(), m1.cuda(), metric=metric, half=True, **mode)
        assert torch.equal(cpu[0], gpu[0].cpu())
        assert torch.allclose(cpu[1], gpu[1].cpu(), atol=1e-5)


def test_row_maximum_is_max_with_first_index():
    g = torch.Generator().manual_seed(0)
    sim = torch.randn(3, 20, 512, generator=g)
    sim[0, :, 7] = sim[0, :, 300] = 9.0  # ties in different blocks
    sim[1, :, 40] = sim[1, :, 40 + 32] = 9.0  # ties in the same column of two blocks
    sim[2, 5] = 1.0  # a constant row
    values, index = passes.row_maximum(sim)
    expected = sim.max(dim=2)
    assert torch.equal(values, expected.values) and torch.equal(index, expected.indices)
    assert (index[0] == 7).all() and (index[1] == 40).all() and index[2, 5] == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_second_maximum_equals_topk_second_value(dtype):
    """The masked maximum used on the GPU instead of topk(2), ties included."""
    g = torch.Generator().manual_seed(3)
    sim = torch.randn(3, 40, 70, generator=g).to(dtype)
    sim[0, 3, 5] = sim[0, 3, 60] = 9.0  # a tied row maximum
    sim[1, 7, :] = sim[1, 30, :] = 9.0  # tied column maxima
    for dim in (1, 2):
        arg = sim.max(dim=dim).indices
        expected = sim.topk(2, dim=dim).values.select(dim, 1)
        assert torch.equal(passes.second_maximum(sim, arg, dim), expected)
    assert passes.second_maximum(sim, sim.max(dim=2).indices, 2)[0, 3] == 9.0


def test_half_precision_decisions_are_redone_in_float32(monkeypatch):
    """The float16 path (cuda's) run on the CPU: near-ties that float16 decides wrongly are redone."""
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(2, 150, 128, generator=g), dim=-1)
    # two close copies of every descriptor: top-2 gaps far below float16's error bound
    near = [torch.nn.functional.normalize(a + 0.02 * torch.randn(a.shape, generator=g), dim=-1) for _ in range(2)]
    b = torch.cat(near, 1)
    modes = [dict(mutual=True, ratio=None, distance_threshold=None),
             dict(mutual=False, ratio=0.999, distance_threshold=None),
             dict(mutual=True, ratio=None, distance_threshold=0.0283)]

    def half_matches(mode):
        return nn_module.match_slice(a, b, None, None, MatchRule("cosine", **mode), SlicePlan(64, True, torch.float32))

    for mode in modes:
        exact = match_batch(a, b, **mode)
        half = half_matches(mode)
        assert torch.equal(exact[0], half[0])
        assert torch.allclose(exact[1], half[1], atol=1e-6)
    monkeypatch.setattr(nn_module, "refine_half", lambda *args, **kwargs: None)
    assert sum(int((match_batch(a, b, **m)[0] != half_matches(m)[0]).sum()) for m in modes) > 0


@pytest.mark.parametrize("metric", ["cosine", "hamming"])
def test_column_argmax_path_equals_column_maximum_path(metric):
    """cuda's float32 path (column argmax with indices) against the CPU's (column maxima only)."""
    pairs = _pairs(metric, 24)
    d0, m0 = pad_descriptors([a for a, _ in pairs])
    d1, m1 = pad_descriptors([b for _, b in pairs])
    prep = similarity.prepare(d0, d1, m0, m1, metric, torch.float32)
    for mutual, ratio in ((True, None), (True, 0.9), (False, 0.9)):
        p = passes.nearest_pass(prep, torch.float32, 0.01, second=ratio is not None, col_index=True)
        indexed = nn_module.decide(p, prep, mutual, ratio, None)
        plain = match_batch(d0, d1, m0, m1, metric=metric, mutual=mutual, ratio=ratio)
        assert torch.equal(indexed[0], plain[0]) and torch.equal(indexed[1], plain[1])


def test_descriptors_that_require_grad():
    a, b = correlated_pair(300, 280, 16, 4)
    a.requires_grad_(True)
    m, s = match_batch(a[None], b[None])
    ref, _ = brute_force_matches(a.detach().numpy(), b.numpy())
    assert m[0].tolist() == ref.tolist() and not s.requires_grad
