"""The fused matcher: its torch mirror on the CPU against topk and the float32 matcher; the kernel on CUDA."""

import os

import pytest
import torch

from fixtures.matching import brute_force_matches, correlated_pair, random_unit
from slamfeat.errors import BadInput
from slamfeat.matching import fused, match_batch, pad_descriptors
from slamfeat.matching import nearest_neighbour as nn_module
from slamfeat.matching import passes

MODES = [dict(), dict(mutual=False), dict(ratio=0.9), dict(mutual=False, ratio=0.8, distance_threshold=0.9),
         dict(ratio=1.0, distance_threshold=1.2)]
# N not a multiple of the 64-column block, a single keypoint, one side empty, an exact multiple
SIZES = [(37, 130), (130, 37), (1, 9), (9, 1), (0, 12), (15, 0), (64, 128)]


def _padded_pairs(seed=0, dim=32):
    pairs = [correlated_pair(n0, n1, dim, seed + k) for k, (n0, n1) in enumerate(SIZES)]
    d0, m0 = pad_descriptors([a for a, _ in pairs])
    d1, m1 = pad_descriptors([b for _, b in pairs])
    return pairs, d0, m0, d1, m1


def _integer_case(seed, batch, n0, n1, dim):
    """Descriptors of small integers (exact products, many ties) and row/column biases that pad out
    a fifth of each side, drawn from one generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(-2, 3, (batch, n0, dim), generator=g).half()
    b = torch.randint(-2, 3, (batch, n1, dim), generator=g).half()
    row_bias = torch.where(torch.rand(batch, n0, generator=g) < 0.2, -1e4, 0.0)
    col_bias = torch.where(torch.rand(batch, n1, generator=g) < 0.2, -1e4, 0.0)
    return a, b, row_bias, col_bias


def _topk_reference(a, b, row_bias, col_bias):
    s = torch.bmm(a.float(), b.float().transpose(1, 2)) + row_bias[:, :, None] + col_bias[:, None, :]
    best, arg = s.max(dim=2)
    second = s.topk(2, dim=2).values[..., 1] if s.shape[2] > 1 else torch.full_like(best, -float("inf"))
    return best, arg, second


@pytest.mark.parametrize("n1", [1, 63, 64, 65, 200])
def test_reference_row_pass_equals_topk_over_the_whole_matrix(n1):
    # small integers: exact products and many ties, within a block and across blocks
    a, b, row_bias, col_bias = _integer_case(n1, 2, 50, n1, 16)
    if n1 > 64:  # the same best column twice, in two blocks: the first wins, the copy is second
        a[0, 0], b[0, 3], b[0, n1 - 1] = 2, 2, 2
        row_bias[0, 0] = col_bias[0, 3] = col_bias[0, n1 - 1] = 0
    best, arg, second = fused.row_top2(a, b, row_bias, col_bias, backend="reference")
    expected = _topk_reference(a, b, row_bias, col_bias)
    assert torch.equal(best, expected[0]) and torch.equal(arg, expected[1]) and torch.equal(second, expected[2])
    if n1 > 64:
        assert arg[0, 0] == 3 and second[0, 0] == best[0, 0] == 64


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_reference_kernel_gives_the_float32_matches(mode):
    pairs, d0, m0, d1, m1 = _padded_pairs()
    float32 = match_batch(d0, d1, m0, m1, **mode, kernel="bmm")
    mirror = match_batch(d0, d1, m0, m1, **mode, kernel="reference")
    assert torch.equal(float32[0], mirror[0]) and torch.equal(float32[1], mirror[1])
    for k, (a, b) in enumerate(pairs):
        ref_m, _ = brute_force_matches(a.numpy(), b.numpy(), **mode)
        assert mirror[0][k, :len(a)].tolist() == ref_m.tolist()
    assert (mirror[0] >= 0).sum() > 20


def test_reference_kernel_on_near_ties_and_duplicates(monkeypatch):
    """Top-2 gaps far below float16's error: the re-check in float32 must decide them."""
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(2, 150, 64, generator=g), dim=-1)
    near = [torch.nn.functional.normalize(a + 0.02 * torch.randn(a.shape, generator=g), dim=-1) for _ in range(2)]
    b = torch.cat([*near, a[:, :5]], 1)  # and exact duplicates of five rows
    a = torch.cat([a, a[:, :3]], 1)  # rows that tie with earlier rows
    calls = []
    exact_rows = passes._exact_rows
    monkeypatch.setattr(passes, "_exact_rows", lambda *args: (calls.append(1), exact_rows(*args))[1])
    for mode in MODES:
        float32 = match_batch(a, b, **mode, kernel="bmm")
        mirror = match_batch(a, b, **mode, kernel="reference")
        assert torch.equal(float32[0], mirror[0]) and torch.allclose(float32[1], mirror[1], atol=0)
    assert calls  # the mirror's float16 decisions were re-checked
    duplicates = match_batch(a, b, kernel="reference")[0]
    assert (duplicates[:, 150:] == -1).all()  # the later copies of a row lose the mutual check


def test_reference_kernel_with_empty_batches_and_masked_rows():
    m, s = match_batch(torch.zeros(2, 0, 8), torch.zeros(2, 5, 8), kernel="reference")
    assert m.shape == (2, 0)
    a, b = random_unit(4, 8, 0)[None], random_unit(3, 8, 1)[None]
    m, _ = match_batch(a, b, torch.zeros(1, 4, dtype=torch.bool), kernel="reference")
    assert (m == -1).all()
    m, _ = match_batch(a, b, None, torch.tensor([[False, True, False]]), kernel="reference")
    assert set(m[0].tolist()) <= {-1, 1} and (m[0] == 1).sum() == 1


def test_unknown_kernel_and_fallback_without_triton():
    with pytest.raises(BadInput, match="kernel 'flash'"):
        match_batch(torch.rand(1, 4, 8), torch.rand(1, 5, 8), kernel="flash")
    # on the CPU every kernel choice but the mirror takes the blockwise path, with the same result
    a, b = correlated_pair(40, 50, 16, 1)
    results = [match_batch(a[None], b[None], ratio=0.9, kernel=k) for k in ("auto", "fused", "bmm", "reference")]
    assert all(torch.equal(results[0][0], r[0]) for r in results)
    assert fused.pick_backend(torch.device("cpu"), "fused") is None


@pytest.mark.skipif(not fused.triton_available(), reason="needs CUDA and Triton")
@pytest.mark.parametrize("n1", [1, 63, 64, 65, 300])
def test_triton_kernel_equals_its_reference(n1):
    a, b, row_bias, col_bias = _integer_case(n1, 3, 97, n1, 40)
    expected = fused.row_top2(a, b, row_bias, col_bias, backend="reference")
    got = fused.row_top2(a.cuda(), b.cuda(), row_bias.cuda(), col_bias.cuda(), backend="triton")
    for e, x in zip(expected, got):
        assert torch.equal(e, x.cpu())  # small integers: exact in any summation order


@pytest.mark.skipif(not fused.triton_available(), reason="needs CUDA and Triton")
@pytest.mark.parametrize("mode", MODES, ids=str)
def test_triton_matcher_gives_the_float32_matches(mode):
    _, d0, m0, d1, m1 = _padded_pairs(dim=128)
    cpu = match_batch(d0, d1, m0, m1, **mode)
    gpu = match_batch(d0.cuda(), d1.cuda(), m0.cuda(), m1.cuda(), **mode, kernel="fused")
    assert torch.equal(cpu[0], gpu[0].cpu()) and torch.allclose(cpu[1], gpu[1].cpu(), atol=1e-5)
    big0, big1 = (x.cuda() for x in correlated_pair(2048, 2000, 128, 5))
    fused_out = match_batch(big0[None], big1[None], **mode, kernel="fused")
    float32 = match_batch(big0[None], big1[None], **mode, half=False)
    assert torch.equal(fused_out[0], float32[0])
    assert fused.pick_backend(torch.device("cuda"), "fused") == "triton"  # the kernel ran: no fallback


def _interpreted_triton(monkeypatch):
    """The real kernel run by Triton's interpreter on CPU tensors: ``TRITON_INTERPRET=1 pytest …``
    where Triton is installed (the variable must be set before Triton is imported)."""
    if os.environ.get("TRITON_INTERPRET") != "1" or torch.cuda.is_available():
        pytest.skip("set TRITON_INTERPRET=1 (with Triton installed, no GPU) to run the kernel in its interpreter")
    pytest.importorskip("triton")
    monkeypatch.setattr(nn_module, "pick_backend", lambda device, kernel: "triton")


@pytest.mark.parametrize("mode", MODES[:3], ids=str)
def test_interpreted_kernel_gives_the_float32_matches(monkeypatch, mode):
    _interpreted_triton(monkeypatch)
    _, d0, m0, d1, m1 = _padded_pairs()
    float32 = match_batch(d0, d1, m0, m1, **mode, kernel="bmm")
    kernel = match_batch(d0, d1, m0, m1, **mode, kernel="fused")
    assert torch.equal(float32[0], kernel[0]) and torch.equal(float32[1], kernel[1])
    g = torch.Generator().manual_seed(2)
    a, b = torch.randint(-2, 3, (2, 97, 40), generator=g).half(), torch.randint(-2, 3, (2, 130, 40), generator=g).half()
    rb, cb = torch.zeros(2, 97), torch.where(torch.rand(2, 130, generator=g) < 0.2, -1e4, 0.0)
    for e, x in zip(fused.row_top2(a, b, rb, cb, backend="reference"), fused.row_top2(a, b, rb, cb, backend="triton")):
        assert torch.equal(e, x)
