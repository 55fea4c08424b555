"""Pictures: keypoints and matches drawn on images (OpenCV), written atomically as PNG/JPEG."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .io import atomic_path


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any ``H×W[×3]`` uint8/uint16/float RGB or gray image as a BGR uint8 image for drawing."""
    a = np.asarray(image)
    if a.dtype == np.uint16:
        a = (a / 257).astype(np.uint8)
    elif a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255).astype(np.uint8)
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(a[:, :, :3], cv2.COLOR_RGB2BGR)


def draw_keypoints(image: np.ndarray, keypoints: np.ndarray, color=(0, 255, 0), radius: int = 2) -> np.ndarray:
    """``keypoints`` (N×2 pixel x, y) as circles on a BGR copy of ``image``."""
    canvas = to_bgr8(image).copy()
    for x, y in np.asarray(keypoints, dtype=np.float64):
        cv2.circle(canvas, (int(round(x)), int(round(y))), radius, color, -1, cv2.LINE_AA)
    return canvas


def draw_matches(image0: np.ndarray, image1: np.ndarray, keypoints0: np.ndarray, keypoints1: np.ndarray,
                 matches: np.ndarray, correct: np.ndarray | None = None, text: str | None = None,
                 max_lines: int = 500) -> np.ndarray:
    """Two images side by side with match lines.

    Args:
        keypoints0, keypoints1: ``N0×2`` and ``N1×2`` pixel (x, y).
        matches: ``M×2`` index pairs into the two keypoint sets.
        correct: optional ``M`` bools: green for correct, red for wrong (otherwise a colour ramp).
        text: a caption drawn in the top-left corner.
    Returns:
        A BGR uint8 picture.
    """
    a, b = to_bgr8(image0), to_bgr8(image1)
    h = max(a.shape[0], b.shape[0])
    canvas = np.zeros((h, a.shape[1] + b.shape[1] + 10, 3), np.uint8)
    canvas[: a.shape[0], : a.shape[1]] = a
    off = a.shape[1] + 10
    canvas[: b.shape[0], off: off + b.shape[1]] = b
    kp0, kp1 = np.asarray(keypoints0, np.float64), np.asarray(keypoints1, np.float64)
    for x, y in kp0:
        cv2.circle(canvas, (int(round(x)), int(round(y))), 1, (255, 200, 0), -1)
    for x, y in kp1:
        cv2.circle(canvas, (int(round(x)) + off, int(round(y))), 1, (255, 200, 0), -1)
    m = np.asarray(matches, dtype=np.int64).reshape(-1, 2)
    step = max(1, len(m) // max_lines)
    for k in range(0, len(m), step):
        i, j = m[k]
        if correct is not None:
            color = (0, 200, 0) if correct[k] else (0, 0, 255)
        else:
            hue = int(179 * k / max(len(m), 1))
            color = tuple(int(c) for c in cv2.cvtColor(np.uint8([[[hue, 255, 255]]]), cv2.COLOR_HSV2BGR)[0, 0])
        p0 = (int(round(kp0[i, 0])), int(round(kp0[i, 1])))
        p1 = (int(round(kp1[j, 0])) + off, int(round(kp1[j, 1])))
        cv2.line(canvas, p0, p1, color, 1, cv2.LINE_AA)
    if text:
        for dy, line in enumerate(text.splitlines()):
            org = (8, 22 + 22 * dy)
            cv2.putText(canvas, line, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(canvas, line, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def save_image(path: str | os.PathLike, bgr: np.ndarray) -> Path:
    """Write a BGR picture atomically (format from the suffix)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(path.suffix or ".png", bgr)
        if not ok:
            raise OSError(f"cannot encode {path}")
        tmp.write_bytes(buf.tobytes())
    return path
