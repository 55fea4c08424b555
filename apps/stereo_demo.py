"""Match the Middlebury stereo pair that ships with scikit-image and check the matches against its
ground-truth disparity. Copy and edit: it uses only slamfeat's public API.

    python apps/stereo_demo.py [--models disk sift] [--out out/stereo]

A match (x0, y0) ↔ (x1, y1) is correct when the right-image point lies within 2 px of
(x0 − disparity(x0, y0), y0); pixels without ground truth are left out of the count.
"""

import argparse
from pathlib import Path

import numpy as np
import skimage.data

import slamfeat
from slamfeat.viz import draw_matches, save_image


def disparity_agreement(kp0: np.ndarray, kp1: np.ndarray, disparity: np.ndarray, tol: float = 2.0):
    """Per match: True/False where the disparity is known (x1 ≈ x0 − d, y1 ≈ y0), None elsewhere."""
    x, y = np.round(kp0[:, 0]).astype(int), np.round(kp0[:, 1]).astype(int)
    d = disparity[y, x]
    known = np.isfinite(d)
    ok = (np.abs(kp1[:, 0] - (kp0[:, 0] - d)) <= tol) & (np.abs(kp1[:, 1] - kp0[:, 1]) <= tol)
    return ok, known


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["disk", "sift"])
    parser.add_argument("--max-keypoints", type=int, default=2048)
    parser.add_argument("--out", default="out/stereo")
    args = parser.parse_args()
    left, right, disparity = skimage.data.stereo_motorcycle()
    out = Path(args.out)
    print(f"{'model':<14}{'keypoints':>10}{'matches':>9}{'with GT':>9}{'correct':>9}")
    for name in args.models:
        extractor = slamfeat.load_extractor(name, max_keypoints=args.max_keypoints)
        f0, f1 = extractor.extract(left), extractor.extract(right)
        matches0, _ = slamfeat.match_features(f0, f1)
        i0 = np.nonzero(matches0.numpy() >= 0)[0]
        kp0, kp1 = f0.keypoints.numpy()[i0], f1.keypoints.numpy()[matches0.numpy()[i0]]
        ok, known = disparity_agreement(kp0, kp1, disparity)
        rate = ok[known].mean() if known.any() else float("nan")
        print(f"{name:<14}{(len(f0) + len(f1)) // 2:>10}{len(i0):>9}{int(known.sum()):>9}{rate:>9.1%}")
        picture = draw_matches(left, right, f0.keypoints.numpy(), f1.keypoints.numpy(),
                               np.stack([i0, matches0.numpy()[i0]], 1), correct=ok,
                               text=f"{name}: {len(i0)} mutual matches, {rate:.1%} agree with the disparity")
        print(f"  picture: {save_image(out / f'{name}_matches.jpg', picture)}")


if __name__ == "__main__":
    main()
