"""Bridging lost frames: the camera's turn carried across frames that the map cannot place.

In a whip turn (tens of degrees between two frames) the map's points leave the view, tracking and
relocalisation fail, and a new map starts a few frames later. Without more, that map starts at the
last tracked pose, so the rest of the path is turned by the angle of the turn. Consecutive frames
still overlap, though: their two-view geometry (essential matrix, the same estimate as the first map's)
gives each frame's rotation and direction of travel from the frame before, and the recent speed
gives the length of the step. Chained from the last tracked frame, these poses place the new map's
first keyframe. Frames bridged this way still count as lost: their poses are not written.

A link of the chain needs ``cfg.bridge_min_inliers`` inliers of the essential matrix, with the
tracker's matcher or else its fallback matcher; a link that fails ends the chain (the new map then
starts at the last pose the chain reached, as before).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from ..geometry.pose import pose_matrix
from ..geometry.two_view import estimate_relative_pose
from ..matching.matcher import Matcher
from .config import VOConfig
from .map import Frame
from .tracking import match_keypoints


@dataclass
class Bridge:
    """The chain of poses from the last tracked frame across the frames after it.

    Attributes:
        frame: the chain's last frame (None when the chain is broken or nothing was tracked yet).
        T_cam_world: its ``4×4`` world-to-camera pose.
        poses: frame index → bridged ``4×4`` world-to-camera pose of the untracked frames since the last
            tracked one.
        links: frames bridged in the whole run.
    """

    frame: Frame | None = None
    T_cam_world: np.ndarray | None = None
    poses: dict[int, np.ndarray] = field(default_factory=dict)
    links: int = 0

    def anchor(self, frame: Frame, T_cam_world: np.ndarray) -> None:
        """``frame`` was tracked at ``T_cam_world``: the chain starts again from it."""
        self.frame, self.T_cam_world = frame, T_cam_world
        self.poses.clear()

    def extend(self, frame: Frame, matchers: Sequence[Matcher], K: np.ndarray, cfg: VOConfig, speed: float) -> bool:
        """Chain the untracked ``frame`` onto the last one by their two-view geometry (matched by the first of
        ``matchers`` that gives a link), a step of ``speed`` map units per frame; returns whether it was
        bridged (else the chain ends here)."""
        if self.frame is None:
            return False
        prev, self.frame = self.frame, None
        found = None
        for matcher in matchers:
            try:
                found = _link(prev, frame, matcher, K, cfg)
            except (cv2.error, np.linalg.LinAlgError):  # degenerate geometry: no link with this matcher
                found = None
            if found is not None:
                break
        if found is None:
            return False
        R, t = found
        T = pose_matrix(R, t * speed * (frame.index - prev.index)) @ self.T_cam_world
        self.frame, self.T_cam_world = frame, T
        self.poses[frame.index] = T
        self.links += 1
        return True


def _link(prev: Frame, frame: Frame, matcher: Matcher, K: np.ndarray, cfg: VOConfig
          ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(R, unit t)`` from ``prev`` to ``frame`` by the essential matrix, or None below ``cfg.bridge_min_inliers``."""
    pairs = match_keypoints(prev.features, frame.features, matcher)
    if len(pairs) < cfg.bridge_min_inliers:
        return None
    found = estimate_relative_pose(prev.keypoints[pairs[:, 0]], frame.keypoints[pairs[:, 1]], K, K,
                                   cfg.essential_ransac_px)
    if found is None or int(found[2].sum()) < cfg.bridge_min_inliers:
        return None
    return found[0], found[1]
