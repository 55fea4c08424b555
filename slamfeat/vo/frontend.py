"""The monocular visual-odometry front end: a tracker state machine over a local map.

States: ``initialising`` (waiting for two views with enough parallax), ``tracking`` (PnP of each
frame against the map points of the last keyframe, from a constant-velocity prediction), and
``lost`` (relocalisation against the last keyframe, and after a few frames a fresh
initialisation that continues the trajectory from the last known pose). A frame never raises:
what cannot be tracked is counted as lost.

Poses inside are ``T_cam_world``; results give ``T_world_cam`` (camera-to-world, OpenCV axes).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import Enum

import cv2
import numpy as np
import torch

from ..features import Extractor, Features
from ..geometry.pose import invert_pose, pose_matrix, solve_pnp
from ..geometry.two_view import initialise_two_view, triangulate
from ..matching import matches_to_indices
from ..matching.matcher import Matcher, MatcherConfig
from .bundle import bundle_adjust
from .map import Frame, Keyframe, PointMap


@dataclass
class VOConfig:
    """Every knob of the front end, with its default."""

    min_init_matches: int = 100  # matches to the initialisation reference before trying
    min_init_points: int = 60  # triangulated points needed to accept an initialisation
    min_init_parallax_deg: float = 2.0  # median ray angle of those points (1° gives poor first maps)
    max_init_frames: int = 20  # an initialisation reference older than this is replaced
    essential_ransac_px: float = 1.0
    pnp_reprojection_px: float = 3.0
    pnp_iterations: int = 100
    min_tracked_points: int = 20  # PnP inliers below this: the frame is lost
    keyframe_min_ratio: float = 0.6  # new keyframe when tracked points < ratio × those of the first frame after it
    keyframe_min_points: int = 60  # ... or fewer than this
    keyframe_max_gap: int = 15  # ... or after this many frames
    triangulation_px: float = 2.0  # max reprojection error of a new point
    triangulation_min_angle_deg: float = 0.8
    ba_window: int = 5  # keyframes in the local bundle adjustment (0 = none)
    ba_iterations: int = 8
    ba_gate_px: float = 12.0  # observations this far off stay out of the adjustment
    ba_outlier_px: float = 4.0
    relocalise: bool = True  # when lost, try PnP against the last keyframe before re-initialising
    reinitialise_after: int = 3  # lost frames before a new initialisation starts
    matcher: MatcherConfig = field(default_factory=MatcherConfig)  # nn (the features' defaults) or lightglue
    matcher_device: str | None = None


class _Named(str, Enum):
    """An enum whose members are their names' strings (``StrEnum`` came with Python 3.11)."""

    def __str__(self) -> str:
        return str(self.value)


class TrackerState(_Named):
    """The front end's state (see the module docstring)."""

    INITIALISING = "initialising"
    TRACKING = "tracking"
    LOST = "lost"


class FrameStatus(_Named):
    """What became of a frame; compares equal to its value (``"lost"`` …) as reports write it."""

    TRACKED = "tracked"
    KEYFRAME = "keyframe"
    INITIALISING = "initialising"
    LOST = "lost"


@dataclass
class FrameResult:
    """What became of one frame.

    Attributes:
        status: tracked, keyframe, initialising or lost.
        T_world_cam: ``4×4`` camera-to-world pose, None when not tracked.
        reference: the keyframe the frame was matched against (for drawing), or None.
        matches: ``M×2`` (reference keypoint, frame keypoint) pairs that supported the pose.
    """

    index: int
    timestamp: float
    status: FrameStatus
    T_world_cam: np.ndarray | None = None
    reference: Keyframe | None = None
    matches: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    frame: Frame | None = None

    @classmethod
    def lost(cls, frame: Frame) -> "FrameResult":
        """The result of a frame that could not be tracked."""
        return cls(frame.index, frame.timestamp, FrameStatus.LOST, frame=frame)


def _match(f0: Features, f1: Features, matcher: Matcher) -> np.ndarray:
    """``M×2`` index pairs of matched keypoints between two feature sets."""
    if len(f0) < 8 or len(f1) < 8:
        return np.zeros((0, 2), np.int64)

    m0, _ = matcher.match(f0, f1)
    return matches_to_indices(m0).cpu().numpy().astype(np.int64).reshape(-1, 2)


class VisualOdometry:
    """Monocular VO: ``process`` one RGB frame at a time; finished frames come back in order.

    Args:
        extractor: any slamfeat extractor.
        K: ``3×3`` intrinsics; ``dist`` optional OpenCV distortion (keypoints are undistorted).
    """

    def __init__(self, extractor: Extractor, K: np.ndarray, dist: np.ndarray | None = None,
                 config: VOConfig | None = None) -> None:
        self.extractor = extractor
        self.K = np.asarray(K, np.float64)
        self.dist = None if dist is None else np.asarray(dist, np.float64)
        self.cfg = config or VOConfig()
        # by default the matcher runs where the extractor does
        self.matcher = Matcher(self.cfg.matcher, extractor, self.cfg.matcher_device or extractor.device)
        self.map = PointMap()
        self.state = TrackerState.INITIALISING
        self.segment = -1
        self.init_reference: Frame | None = None
        self.pending: list[Frame] = []  # frames waiting for the initialisation
        self.last_T: np.ndarray | None = None  # T_cam_world of the last tracked frame
        self.velocity = np.eye(4)
        self.speeds: list[float] = []  # recent per-frame translations (map units)
        self.lost_run = 0
        self.lost_frames = 0
        self.reinitialisations = 0
        self.timings = {"extract": 0.0, "track": 0.0, "bundle": 0.0}
        self.cpu_seconds = 0.0  # processor time of the front end (all threads), load-independent
        self.failures: list[str] = []  # geometry errors caught on a frame (it was counted lost)

    # ----------------------------------------------------------------- frames in, results out
    def process(self, timestamp: float, image: np.ndarray, index: int) -> list[FrameResult]:
        """Track one ``H×W×3`` RGB uint8 frame; returns the results finished by it, in order."""
        t0, c0 = time.perf_counter(), time.process_time()
        feats = self.extractor.extract(image)
        keypoints = self._undistort(feats.keypoints.detach().cpu().numpy().astype(np.float64))
        frame = Frame(index, float(timestamp), feats.to("cpu") if feats.keypoints.device.type != "cpu" else feats,
                      keypoints, image)
        t1 = time.perf_counter()
        self.timings["extract"] += t1 - t0
        try:
            out = [self._track(frame)] if self.state is TrackerState.TRACKING else self._recover(frame)
        except (cv2.error, np.linalg.LinAlgError) as e:  # degenerate geometry: this frame is lost
            self.failures.append(f"frame {index}: {type(e).__name__}: {str(e).strip().splitlines()[-1][:200]}")
            out = self._give_up(frame)
        self.timings["track"] += time.perf_counter() - t1
        self.cpu_seconds += time.process_time() - c0
        return out

    def finish(self) -> list[FrameResult]:
        """Results of the frames still waiting for an initialisation (they count as lost)."""
        out = [FrameResult.lost(f) for f in self.pending]
        self.lost_frames += len(self.pending)
        self.pending = []
        return out

    def _give_up(self, frame: Frame) -> list[FrameResult]:
        """Count ``frame`` (and frames waiting for an initialisation) lost and start looking again."""
        out = [FrameResult.lost(f) for f in self.pending if f.index != frame.index]
        out.append(FrameResult.lost(frame))
        self.lost_frames += len(out)
        self.pending, self.init_reference = [], None
        if self.map.keyframes:
            self.state, self.lost_run, self.velocity = TrackerState.LOST, max(self.lost_run, 1), np.eye(4)
        else:
            self.state = TrackerState.INITIALISING
        return out

    def _undistort(self, kp: np.ndarray) -> np.ndarray:
        if self.dist is None or len(kp) == 0:
            return kp
        return cv2.undistortPoints(kp.reshape(-1, 1, 2), self.K, self.dist, P=self.K).reshape(-1, 2)

    # ----------------------------------------------------------------- tracking
    def _predict(self) -> np.ndarray:
        return self.velocity @ self.last_T

    def _localise(self, frame: Frame, guess: np.ndarray | None, iterations: int, pairs: np.ndarray | None = None):
        """PnP of ``frame`` against the last keyframe's points.

        Returns ``(T_cam_world, inlier pairs M×2, every match to the keyframe M'×2)`` or None.
        """
        kf = self.map.keyframes[-1]
        if pairs is None:
            pairs = _match(kf.frame.features, frame.features, self.matcher)
        if len(pairs) == 0:
            return None
        ids = kf.point_ids[pairs[:, 0]]
        with_point = ids >= 0
        with_point[with_point] = self.map.alive[ids[with_point]]
        candidates, ids = pairs[with_point], ids[with_point]
        found = solve_pnp(self.map.xyz[ids], frame.keypoints[candidates[:, 1]], self.K, guess,
                          self.cfg.pnp_reprojection_px, iterations, self.cfg.min_tracked_points)
        if found is None:
            return None
        T, inliers = found
        return T, candidates[inliers], pairs

    def _match_map_points(self, kf: Keyframe, frame: Frame) -> np.ndarray:
        """Matches ``M×2`` of the keyframe's keypoints that carry a live map point (fewer to match)."""
        ids = kf.point_ids
        rows = np.nonzero(ids >= 0)[0]
        rows = rows[self.map.alive[ids[rows]]]
        if len(rows) < 8:
            return np.zeros((0, 2), np.int64)
        f = kf.frame.features
        index = torch.from_numpy(rows)
        subset = Features(f.keypoints[index], f.scores[index], f.descriptors[index], f.image_size, f.binary)
        pairs = _match(subset, frame.features, self.matcher)
        pairs[:, 0] = rows[pairs[:, 0]]
        return pairs

    def _track(self, frame: Frame) -> FrameResult:
        pairs = self._match_map_points(self.map.keyframes[-1], frame)
        found = self._localise(frame, self._predict(), self.cfg.pnp_iterations, pairs)
        if found is None:
            found = self._localise(frame, None, 3 * self.cfg.pnp_iterations, pairs)
        if found is None:
            self.state = TrackerState.LOST
            self.lost_run = 1
            self.lost_frames += 1
            self.velocity = np.eye(4)
            return FrameResult.lost(frame)
        T, inlier_pairs, all_pairs = found
        return self._accept(frame, T, inlier_pairs, all_pairs)

    def _accept(self, frame: Frame, T: np.ndarray, inlier_pairs: np.ndarray, all_pairs: np.ndarray) -> FrameResult:
        kf = self.map.keyframes[-1]
        self._set_pose(T, frame.index)
        status = FrameStatus.TRACKED
        gap = frame.index - kf.index
        if kf.first_tracked is None:
            kf.first_tracked = len(inlier_pairs)
        if (len(inlier_pairs) < self.cfg.keyframe_min_ratio * kf.first_tracked
                or len(inlier_pairs) < self.cfg.keyframe_min_points or gap >= self.cfg.keyframe_max_gap):
            new = self._add_keyframe(frame, T, inlier_pairs, _match(kf.frame.features, frame.features, self.matcher))
            T = new.T_cam_world
            status = FrameStatus.KEYFRAME
        return FrameResult(frame.index, frame.timestamp, status, invert_pose(T), kf, inlier_pairs, frame)

    def _set_pose(self, T: np.ndarray, index: int) -> None:
        if self.last_T is not None and self._last_index == index - 1:
            self.velocity = T @ invert_pose(self.last_T)
            self.speeds = (self.speeds + [float(np.linalg.norm(self.velocity[:3, 3]))])[-20:]
        else:
            self.velocity = np.eye(4)
        self.last_T, self._last_index = T, index

    _last_index = -10

    # ----------------------------------------------------------------- keyframes and the map
    def _add_keyframe(self, frame: Frame, T: np.ndarray, inlier_pairs: np.ndarray, all_pairs: np.ndarray) -> Keyframe:
        ref = self.map.keyframes[-1]
        point_ids = np.full(len(frame.keypoints), -1, np.int64)
        point_ids[inlier_pairs[:, 1]] = ref.point_ids[inlier_pairs[:, 0]]
        new = Keyframe(frame, T, point_ids, self.segment)
        self.map.keyframes.append(new)
        self._triangulate(ref, new, all_pairs)
        self._bundle_adjust()
        for old in self.map.keyframes[:-2]:
            old.frame.image = None  # images are kept only for drawing and colours
        self.last_T = new.T_cam_world
        return new

    def _triangulate(self, ref: Keyframe, new: Keyframe, pairs: np.ndarray) -> None:
        """New points from the matches ``pairs`` (M×2) of two keyframes where neither has one."""
        if len(pairs) == 0:
            return
        free = (ref.point_ids[pairs[:, 0]] < 0) & (new.point_ids[pairs[:, 1]] < 0)
        pairs = pairs[free]
        X, valid, _ = triangulate(ref.T_cam_world, new.T_cam_world, self.K, ref.frame.keypoints[pairs[:, 0]],
                                  new.frame.keypoints[pairs[:, 1]], self.cfg.triangulation_px,
                                  self.cfg.triangulation_min_angle_deg)
        pairs, X = pairs[valid], X[valid]
        ids = self.map.add_points(X, _colors(new.frame, pairs[:, 1]))
        ref.point_ids[pairs[:, 0]] = ids
        new.point_ids[pairs[:, 1]] = ids

    def _bundle_adjust(self) -> None:
        window = self.map.window(self.cfg.ba_window)
        if self.cfg.ba_window <= 0 or len(window) < 2:
            return
        t0 = time.perf_counter()
        obs_kf, obs_pt, obs_xy = [], [], []
        for k, kf in enumerate(window):
            rows = np.nonzero(kf.point_ids >= 0)[0]
            obs_kf.append(np.full(len(rows), k))
            obs_pt.append(kf.point_ids[rows])
            obs_xy.append(kf.frame.keypoints[rows])
        obs_kf, obs_pt, obs_xy = np.concatenate(obs_kf), np.concatenate(obs_pt), np.concatenate(obs_xy)
        # only points seen twice or more in the window constrain anything
        ids, inverse, counts = np.unique(obs_pt, return_inverse=True, return_counts=True)
        keep = counts[inverse] >= 2
        obs_kf, obs_xy = obs_kf[keep], obs_xy[keep]
        ids, local = np.unique(obs_pt[keep], return_inverse=True)
        if len(ids) < 10:
            return
        fixed = np.zeros(len(window), bool)
        fixed[: 2 if len(window) > 2 else 1] = True
        poses = np.stack([kf.T_cam_world for kf in window])
        try:
            result = bundle_adjust(poses, fixed, self.map.xyz[ids], obs_kf, local, obs_xy, self.K,
                                   self.cfg.ba_gate_px, self.cfg.ba_iterations)
        except ValueError as e:  # a non-finite start: keep the map as it is
            self.failures.append(f"bundle adjustment skipped: {e}")
            return
        for kf, T in zip(window, result.poses):
            kf.T_cam_world = T
        self.map.xyz[ids] = result.points
        bad_obs = result.errors > self.cfg.ba_outlier_px
        for k, kf in enumerate(window):
            drop = np.isin(kf.point_ids, ids[local[bad_obs & (obs_kf == k)]])
            kf.point_ids[drop] = -1
        # points behind a camera after adjustment are dropped everywhere
        Xc = np.einsum("nij,nj->ni", result.poses[obs_kf, :3, :3], result.points[local]) + result.poses[obs_kf, :3, 3]
        self.map.remove_points(np.unique(ids[local[Xc[:, 2] <= 0]]))
        self.timings["bundle"] += time.perf_counter() - t0

    # ----------------------------------------------------------------- initialisation and recovery
    def _recover(self, frame: Frame) -> list[FrameResult]:
        if self.cfg.relocalise and self.map.keyframes and self.last_T is not None:
            found = self._localise(frame, None, 3 * self.cfg.pnp_iterations)
            if found is not None:  # relocalised against the last keyframe
                out = [FrameResult.lost(f) for f in self.pending]
                self.lost_frames += len(self.pending)
                self.pending, self.init_reference = [], None
                self.state, self.lost_run = TrackerState.TRACKING, 0
                T, inlier_pairs, all_pairs = found
                return out + [self._accept(frame, T, inlier_pairs, all_pairs)]
        if self.state is TrackerState.LOST:
            self.lost_run += 1
            if self.lost_run <= self.cfg.reinitialise_after:
                self.lost_frames += 1
                return [FrameResult.lost(frame)]
            self.state = TrackerState.INITIALISING
        return self._initialise(frame)

    def _initialise(self, frame: Frame) -> list[FrameResult]:
        ref = self.init_reference
        if ref is None:
            self.init_reference, self.pending = frame, [frame]
            return []
        pairs = _match(ref.features, frame.features, self.matcher)
        if len(pairs) < self.cfg.min_init_matches:
            return self._restart_initialisation(frame) if len(pairs) < self.cfg.min_init_matches // 2 or \
                frame.index - ref.index > self.cfg.max_init_frames else self._wait(frame)
        two = initialise_two_view(ref.keypoints[pairs[:, 0]], frame.keypoints[pairs[:, 1]], self.K,
                                  self.cfg.essential_ransac_px, self.cfg.min_init_points,
                                  self.cfg.min_init_parallax_deg, self.cfg.triangulation_px)
        if two is None:
            if frame.index - ref.index > self.cfg.max_init_frames:
                return self._restart_initialisation(frame)
            return self._wait(frame)
        return self._start_map(ref, frame, pairs[two.match_rows], two)

    def _wait(self, frame: Frame) -> list[FrameResult]:
        self.pending.append(frame)
        return []

    def _restart_initialisation(self, frame: Frame) -> list[FrameResult]:
        out = [FrameResult.lost(f) for f in self.pending]
        self.lost_frames += len(out)
        self.init_reference, self.pending = frame, [frame]
        return out

    def _start_map(self, ref: Frame, frame: Frame, pairs: np.ndarray, two) -> list[FrameResult]:
        # a re-initialisation continues from the last known pose with the recent speed as scale
        T_ref = self.last_T if self.last_T is not None else np.eye(4)
        scale = 1.0
        if self.last_T is not None and self.speeds:
            scale = max(float(np.median(self.speeds)), 1e-6) * (frame.index - ref.index)
            self.reinitialisations += 1
        T_rel = pose_matrix(two.R, two.t * scale)
        T_cur = T_rel @ T_ref
        X_world = (two.points * scale - T_ref[:3, 3]) @ T_ref[:3, :3]  # camera-0 frame to world
        self.segment += 1
        ids = self.map.add_points(X_world, _colors(frame, pairs[:, 1]))
        kf0 = Keyframe(ref, T_ref, np.full(len(ref.keypoints), -1, np.int64), self.segment)
        kf1 = Keyframe(frame, T_cur, np.full(len(frame.keypoints), -1, np.int64), self.segment)
        kf0.point_ids[pairs[:, 0]] = ids
        kf1.point_ids[pairs[:, 1]] = ids
        self.map.keyframes += [kf0, kf1]
        self._bundle_adjust()
        self.state, self.lost_run, self.velocity = TrackerState.TRACKING, 0, np.eye(4)
        out = [FrameResult(ref.index, ref.timestamp, FrameStatus.KEYFRAME, invert_pose(kf0.T_cam_world), None, frame=ref)]
        # frames between the two views are localised against the new map
        waiting = [f for f in self.pending if f.index not in (ref.index, frame.index)]
        self.pending, self.init_reference = [], None
        for f in waiting:
            found = solve_pnp(*self._correspondences(kf0, f), self.K, None, self.cfg.pnp_reprojection_px,
                              self.cfg.pnp_iterations, self.cfg.min_tracked_points)
            if found is None:
                self.lost_frames += 1
                out.append(FrameResult.lost(f))
            else:
                out.append(FrameResult(f.index, f.timestamp, FrameStatus.TRACKED, invert_pose(found[0]), kf0, frame=f))
        out.append(FrameResult(frame.index, frame.timestamp, FrameStatus.KEYFRAME, invert_pose(kf1.T_cam_world), kf0, pairs, frame))
        self.last_T, self._last_index = kf1.T_cam_world, frame.index
        return out

    def _correspondences(self, kf: Keyframe, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
        pairs = _match(kf.frame.features, frame.features, self.matcher)
        if len(pairs) == 0:
            return np.zeros((0, 3)), np.zeros((0, 2))
        ids = kf.point_ids[pairs[:, 0]]
        has = ids >= 0
        return self.map.xyz[ids[has]], frame.keypoints[pairs[has, 1]]

    def summary(self) -> dict:
        return {"keyframes": len(self.map.keyframes), "lost_frames": self.lost_frames, "failures": self.failures,
                "reinitialisations": self.reinitialisations, "map_points": int(self.map.alive.sum()),
                "config": asdict(self.cfg)}


def _colors(frame: Frame, rows: np.ndarray) -> np.ndarray:
    if frame.image is None or len(rows) == 0:
        return np.full((len(rows), 3), 200, np.uint8)
    h, w = frame.image.shape[:2]
    xy = np.round(frame.features.keypoints[rows].cpu().numpy()).astype(np.int64)
    x, y = np.clip(xy[:, 0], 0, w - 1), np.clip(xy[:, 1], 0, h - 1)
    return frame.image[y, x, :3].astype(np.uint8)
