"""The random warps of training pairs: their zoom follows ``max_scale``."""

import numpy as np

from slamfeat.distill.data import DEFAULT_SCALE, scale_range
from slamfeat.distill.samples import make_pairs


def _centre_zoom(H: np.ndarray, size: int) -> float:
    """Linear zoom of the homography at the crop centre: sqrt of its Jacobian's determinant."""
    c = (size - 1) / 2.0
    x = np.array([c, c, 1.0])
    w = H[2] @ x
    J = (H[:2, :2] * w - np.outer(H[:2] @ x, H[2, :2])) / w**2
    return float(np.sqrt(abs(np.linalg.det(J))))


def test_scale_range():
    assert scale_range(None) == DEFAULT_SCALE
    lo, hi = scale_range(2.0)
    assert hi == 2.0 and np.isclose(lo, 0.5)


def test_max_scale_widens_the_zoom_of_training_pairs():
    """Pairs made with max_scale 2 zoom in and out far more than the default's 0.75–1.35, centred on 1."""
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    logs = {}
    for max_scale in (None, 2.0):
        pairs = make_pairs([image], 150, 32, np.random.default_rng(1), 30.0, max_scale)
        logs[max_scale] = np.log([_centre_zoom(p.H, 32) for p in pairs])
    assert abs(np.median(logs[None])) < 0.12 and abs(np.median(logs[2.0])) < 0.12
    assert logs[2.0].std() > 1.6 * logs[None].std()
    assert (logs[2.0] > np.log(1.5)).mean() > 0.1 and (logs[2.0] < -np.log(1.5)).mean() > 0.1
    assert (logs[None] > np.log(1.5)).mean() < 0.03
