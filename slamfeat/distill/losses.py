"""Distillation losses: pure functions of student and teacher outputs.

Detection maps are per-pixel logits ``B×1×H×W`` whose sigmoid is the keypoint score (teachers'
outputs are turned into such logits by :mod:`slamfeat.distill.teachers`). Descriptors are rows of
unit L2 norm; ``s_a[i]`` and ``s_b[i]`` describe the same scene point in the two images of a pair.

Every loss is zero when the student's outputs equal the teacher's (for DesDis: when the teacher
also keeps every negative at least ``margin`` farther than its positive) and grows as they part.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SP_CELL = 8  # SuperPoint's cell size


def _cells(logits: torch.Tensor, cell: int) -> torch.Tensor:
    """``B×1×H×W`` → ``B×(cell²+1)×H/cell×W/cell`` cell logits with a zero-logit dustbin appended."""
    x = F.pixel_unshuffle(logits, cell)
    return torch.cat([x, torch.zeros_like(x[:, :1])], dim=1)


def detector_cross_entropy(student_logits: torch.Tensor, teacher_peaks: torch.Tensor,
                           cell: int = SP_CELL) -> torch.Tensor:
    """Detector distillation as SuperPoint-style cell classification (Yashchenko et al. 2020,
    with the cell loss of DeTone et al. 2018).

    Each ``cell×cell`` cell is one classification over its ``cell²`` pixels and a "no keypoint"
    dustbin (whose logit is fixed at 0, so that ``sigmoid`` of a lone peak's logit is close to its
    cell probability). The label is the pixel of the teacher's strongest keypoint in the cell, or
    the dustbin when the teacher has none there.

    Args:
        student_logits: ``B×1×H×W`` (H, W multiples of ``cell``).
        teacher_peaks: ``B×1×H×W``, the teacher's keypoint scores at its keypoints, 0 elsewhere.
    Returns:
        The mean cross-entropy per cell (a scalar).
    """
    peaks = F.pixel_unshuffle(teacher_peaks, cell)
    best, where = peaks.max(dim=1)
    labels = torch.where(best > 0, where, torch.full_like(where, cell * cell))
    return F.cross_entropy(_cells(student_logits, cell), labels)


def detector_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, cell: int = SP_CELL,
                temperature: float = 2.0) -> torch.Tensor:
    """Detector distillation by KL divergence between softened heatmaps (Yashchenko et al. 2020,
    softening after Hinton et al. 2015).

    Both maps become, cell by cell, distributions over the cell's pixels and a zero-logit dustbin,
    softened by ``temperature``; the loss is ``T² · KL(teacher ‖ student)`` averaged over cells.

    Args:
        student_logits, teacher_logits: ``B×1×H×W`` (H, W multiples of ``cell``).
    """
    t = float(temperature)
    log_p_s = F.log_softmax(_cells(student_logits, cell) / t, dim=1)
    log_p_t = F.log_softmax(_cells(teacher_logits, cell) / t, dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)
    return kl.mean() * t * t


def detector_l2(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Detector distillation by the mean squared difference of the score maps
    ``sigmoid(logits)`` (Yashchenko et al. 2020). Inputs ``B×1×H×W``."""
    return F.mse_loss(torch.sigmoid(student_logits), torch.sigmoid(teacher_logits))


def absolute_teacher(student: torch.Tensor, teacher: torch.Tensor,
                     projection: torch.nn.Module | None = None) -> torch.Tensor:
    """Absolute teacher (Yu et al., CVPR 2019, "Learning Metrics from Teachers"): the student's
    descriptor of a point regresses the teacher's descriptor of the same point.

    Args:
        student: ``N×Ds`` unit descriptors.
        teacher: ``N×Dt`` unit descriptors.
        projection: a learned ``Ds → Dt`` map, needed when the sizes differ; its output is
            re-normalised.
    Returns:
        The mean squared Euclidean distance between (projected) student and teacher descriptors.
    """
    if projection is not None:
        student = F.normalize(projection(student), dim=-1)
    if student.shape[-1] != teacher.shape[-1]:
        raise ValueError(f"absolute teacher: student {student.shape[-1]}-D vs teacher {teacher.shape[-1]}-D "
                         "descriptors need a projection")
    return (student - teacher).pow(2).sum(dim=-1).mean()


def pairwise_distances(x: torch.Tensor) -> torch.Tensor:
    """``N×D`` unit descriptors → ``N×N`` Euclidean distances (numerically safe at zero)."""
    sim = (x @ x.t()).clamp(-1.0, 1.0)
    return (2.0 - 2.0 * sim).clamp_min(1e-12).sqrt()


def relative_teacher(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Relative teacher (Yu et al., CVPR 2019): the distances among all pairs of points of a batch
    in the student's descriptor space match those in the teacher's, so the sizes may differ.

    Args:
        student: ``N×Ds`` unit descriptors; teacher: ``N×Dt`` unit descriptors of the same points.
    Returns:
        The mean absolute difference of the ``N×N`` pairwise distances.
    """
    n = student.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=student.device)
    return (pairwise_distances(student) - pairwise_distances(teacher))[off].abs().mean()


def hardest_negatives(s_a: torch.Tensor, s_b: torch.Tensor, exclude: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """HardNet-style mining: for each anchor ``i``, the closest non-matching descriptor in either
    direction of the ``N×N`` distance matrix ``d(s_a[i], s_b[j])``.

    Args:
        exclude: optional ``N×N`` bool, True for pairs that must not be negatives (too close).
    Returns:
        ``N`` positive distances, ``N`` hardest negative distances, and the ``N×2`` index pairs
        ``(row into s_a, column into s_b)`` of those negatives.
    """
    n = s_a.shape[0]
    dist = (2.0 - 2.0 * (s_a @ s_b.t()).clamp(-1.0, 1.0)).clamp_min(1e-12).sqrt()
    pos = dist.diagonal()
    bad = torch.eye(n, dtype=torch.bool, device=dist.device)
    if exclude is not None:
        bad = bad | exclude
    masked = dist + bad.to(dist.dtype) * 10.0
    row_val, row_idx = masked.min(dim=1)  # anchor a_i against every b_j
    col_val, col_idx = masked.min(dim=0)  # anchor b_i against every a_j
    use_row = row_val <= col_val
    ar = torch.arange(n, device=dist.device)
    pairs = torch.stack([torch.where(use_row, ar, col_idx), torch.where(use_row, row_idx, ar)], dim=-1)
    return pos, torch.minimum(row_val, col_val), pairs


def desdis(s_a: torch.Tensor, s_b: torch.Tensor, t_a: torch.Tensor, t_b: torch.Tensor,
           margin: float = 1.0, regulariser: float = 1.0, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """DesDis (Liu & Dong 2022): a triplet loss with hardest-in-batch negatives on the student's
    true correspondences, plus the teacher-student regulariser that penalises the gap between the
    teacher's and the student's similarity of each positive pair and of each (student-mined)
    hardest negative pair.

    Args:
        s_a, s_b: ``N×Ds`` student unit descriptors of corresponding points (N ≥ 2).
        t_a, t_b: ``N×Dt`` teacher unit descriptors of the same points.
        margin: the triplet margin on Euclidean distances.
        regulariser: the weight of the teacher-student term.
        exclude: optional ``N×N`` bool of pairs that are not negatives.
    """
    pos, neg, pairs = hardest_negatives(s_a, s_b, exclude)
    triplet = F.relu(margin + pos - neg).mean()
    sim_pos_s = (s_a * s_b).sum(-1)
    sim_pos_t = (t_a * t_b).sum(-1)
    sim_neg_s = (s_a[pairs[:, 0]] * s_b[pairs[:, 1]]).sum(-1)
    sim_neg_t = (t_a[pairs[:, 0]] * t_b[pairs[:, 1]]).sum(-1)
    reg = (sim_pos_t - sim_pos_s).abs().mean() + (sim_neg_t - sim_neg_s).abs().mean()
    return triplet + regulariser * reg


DETECTOR_LOSSES = ("det-ce", "det-kl", "det-l2")
DESCRIPTOR_LOSSES = ("absolute", "relative", "desdis")
LOSSES = DETECTOR_LOSSES + DESCRIPTOR_LOSSES
