"""Each distillation loss is zero when the student equals the teacher and grows as it moves away."""

import pytest
import torch
import torch.nn.functional as F

from slamfeat.distill import losses as L
from slamfeat.distill.teachers import peak_map


def _unit(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=-1)


def _moved(x, amount, seed=1):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(x + amount * torch.randn(x.shape, generator=g), dim=-1)


@pytest.fixture
def teacher_logits():
    g = torch.Generator().manual_seed(0)
    return 4 * torch.randn(2, 1, 32, 32, generator=g)


def test_detector_kl_and_l2_zero_at_teacher_and_growing(teacher_logits):
    noise = torch.randn(teacher_logits.shape, generator=torch.Generator().manual_seed(3))
    for loss in (L.detector_kl, L.detector_l2):
        values = [float(loss(teacher_logits + a * noise, teacher_logits)) for a in (0.0, 0.5, 2.0)]
        assert values[0] == pytest.approx(0.0, abs=1e-6)
        assert values[0] < values[1] < values[2], (loss.__name__, values)


def test_detector_cross_entropy_zero_for_a_confident_copy_and_growing(teacher_logits):
    peaks = peak_map(teacher_logits, 0.5)
    # a student that puts all its mass where the teacher has its strongest keypoint of each cell
    cells = F.pixel_unshuffle(peaks, 8)
    best, where = cells.max(dim=1, keepdim=True)
    onehot = torch.zeros_like(cells).scatter_(1, where, 1.0) * (best > 0)
    confident = F.pixel_shuffle(torch.where(onehot > 0, 40.0, -40.0), 8)
    noise = torch.randn(confident.shape, generator=torch.Generator().manual_seed(4))
    values = [float(L.detector_cross_entropy(confident + a * noise, peaks)) for a in (0.0, 20.0, 80.0)]
    assert values[0] == pytest.approx(0.0, abs=1e-6)
    assert values[0] < values[1] < values[2], values
    assert (peaks > 0).any() and (peaks == 0).any()


def test_absolute_teacher_zero_at_teacher_and_growing():
    t = _unit(64, 32, 0)
    values = [float(L.absolute_teacher(_moved(t, a), t)) for a in (0.0, 0.05, 0.3)]
    assert values[0] == pytest.approx(0.0, abs=1e-10)
    assert values[0] < values[1] < values[2]


def test_absolute_teacher_projects_smaller_students():
    proj = torch.nn.Linear(16, 32, bias=False)
    loss = L.absolute_teacher(_unit(10, 16, 0), _unit(10, 32, 1), proj)
    loss.backward()
    assert proj.weight.grad is not None and proj.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        L.absolute_teacher(_unit(10, 16, 0), _unit(10, 32, 1))


def test_relative_teacher_zero_at_teacher_growing_and_size_free():
    t = _unit(48, 64, 0)
    values = [float(L.relative_teacher(_moved(t, a), t)) for a in (0.0, 0.05, 0.3)]
    assert values[0] == pytest.approx(0.0, abs=1e-5)
    assert values[0] < values[1] < values[2]
    # distances survive an orthogonal embedding into a bigger space: zero again across sizes
    q, _ = torch.linalg.qr(torch.randn(64, 64, generator=torch.Generator().manual_seed(2)))
    small = t @ q[:, :64]
    assert float(L.relative_teacher(small, t)) == pytest.approx(0.0, abs=1e-5)
    assert float(L.relative_teacher(_unit(48, 16, 5), t)) > values[2] * 0.5


def test_desdis_zero_for_a_separating_teacher_and_growing():
    # a teacher whose correspondences coincide and whose points are orthogonal keeps every
    # negative sqrt(2) > margin away: triplet and regulariser are both zero for an identical student
    t_a = torch.eye(16)[:12]
    t_b = t_a.clone()
    values = [float(L.desdis(_moved(t_a, a, 1), _moved(t_b, a, 2), t_a, t_b)) for a in (0.0, 0.2, 0.6)]
    assert values[0] == pytest.approx(0.0, abs=1e-5)
    assert values[0] < values[1] < values[2]


def test_hardest_negatives_respects_exclusions():
    s_a = torch.eye(4)
    s_b = torch.eye(4)[[0, 1, 2, 3]]
    s_b[1] = F.normalize(torch.tensor([1.0, 0.2, 0, 0]), dim=0)  # b1 very close to a0
    _, neg, pairs = L.hardest_negatives(s_a, s_b)
    assert pairs[0].tolist() == [0, 1]
    exclude = torch.zeros(4, 4, dtype=torch.bool)
    exclude[0, 1] = exclude[1, 0] = True
    _, neg2, pairs2 = L.hardest_negatives(s_a, s_b, exclude)
    assert pairs2[0].tolist() != [0, 1] and neg2[0] > neg[0]


def test_loss_names_and_weights_from_the_command_line():
    from slamfeat.distill.train import parse_losses
    from slamfeat.errors import BadInput

    assert parse_losses("det-kl=2,absolute desdis=0.5") == {"det-kl": 2.0, "absolute": 1.0, "desdis": 0.5}
    assert parse_losses(["det-ce", "relative=0"]) == {"det-ce": 1.0}
    for bad in ("hardnet", "det-kl=x", "absolute=-1", "relative=0"):
        with pytest.raises(BadInput):
            parse_losses(bad)
