"""The monocular visual-odometry front end: a tracker state machine over a local map.

States: ``initialising`` (waiting for two views with enough parallax), ``tracking`` (PnP of each
frame against the map points of the last keyframe, from a constant-velocity prediction), and
``lost`` (relocalisation against the last keyframe, and after a few frames a fresh
initialisation that continues the trajectory from the last known pose). A frame never raises:
what cannot be tracked is counted as lost.

The state machine is this module; its steps are functions of their own: ``tracking`` (matching and
PnP), ``keyframes`` (when a frame becomes one), ``mapping`` (new points, local bundle adjustment),
``initialisation`` (two views to a first map) and ``motion`` (the constant-velocity guess).

Poses inside are ``T_cam_world``; results give ``T_world_cam`` (camera-to-world, OpenCV axes).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Callable

import cv2
import numpy as np

from ..errors import BadInput
from ..features import Extractor
from ..geometry.pose import invert_pose
from ..matching.matcher import Matcher, MatcherConfig
from .bridge import Bridge
from .config import AUTO, VOConfig
from .initialisation import InitialisationStep, reinitialisation_scale, seed_map, try_two_view
from .keyframes import append_keyframe, keyframe_due, tracked_point_ids
from .local_map import track_local_map
from .map import Frame, Keyframe, PointMap
from .mapping import BundleAdjustmentSkipped, adjust_local_window, release_old_images, triangulate_new_points
from .motion import MotionModel
from .results import FrameResult, FrameStatus, TrackerState
from .tracking import Localisation, localise, match_keypoints, match_map_points, place_frame

__all__ = ["VOConfig", "VisualOdometry", "FrameResult", "FrameStatus", "TrackerState"]


def fallback_for(cfg: VOConfig, matcher: Matcher) -> MatcherConfig | None:
    """The fallback matcher of ``cfg`` behind ``matcher``: ``cfg.fallback_matcher`` as it is, or for
    :data:`~.config.AUTO` the features' LightGlue (their own, or a student's teacher's) when ``matcher`` is
    mutual NN, and none otherwise (no LightGlue for the features, or LightGlue is the matcher already)."""
    if cfg.fallback_matcher != AUTO:
        return cfg.fallback_matcher
    if matcher.config.name != "nn" or matcher.kind.lightglue is None:
        return None
    return MatcherConfig("lightglue")


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
        # by default the matchers run where the extractor does
        device = self.cfg.matcher_device or extractor.device
        self.matcher = Matcher(self.cfg.matcher, extractor, device)
        self.fallback = None
        fallback = fallback_for(self.cfg, self.matcher)
        if fallback is not None:
            try:
                self.fallback = Matcher(fallback, extractor, device)
            except BadInput as e:  # named as the fallback's fault, not the matcher's
                raise BadInput(str(e), option="fallback_matcher") from None
        self.fallback_frames = 0  # frames the fallback matcher tracked after the matcher failed
        self.local_map_matches = 0  # points of older keyframes found again by projection (all frames)
        self.last_frame_frames = 0  # frames placed against the last frame after the last keyframe failed
        self.last_tracked: Keyframe | None = None  # the last tracked frame with its map points (not a keyframe)
        self.bridge = Bridge()  # poses chained across frames that could not be placed
        self.bridged_reinitialisations = 0  # new maps started at a bridged pose
        self.map = PointMap()
        self.state = TrackerState.INITIALISING
        self.segment = -1
        self.init_reference: Frame | None = None
        self.pending: list[Frame] = []  # frames waiting for the initialisation
        self.motion = MotionModel()
        self.lost_run = 0
        self.lost_frames = 0
        self.reinitialisations = 0
        self.timings = {"extract": 0.0, "track": 0.0, "bundle": 0.0}
        self.cpu_seconds = 0.0  # processor time of the front end (all threads), load-independent
        self.failures: list[str] = []  # geometry errors caught on a frame (it was counted lost)

    @property
    def last_T(self) -> np.ndarray | None:
        """``4×4`` T_cam_world of the last tracked frame (None before the first)."""
        return self.motion.T_cam_world

    @property
    def velocity(self) -> np.ndarray:
        """``4×4`` constant-velocity pose change per frame."""
        return self.motion.velocity

    @property
    def speeds(self) -> list[float]:
        """Recent per-frame translations (map units)."""
        return self.motion.speeds

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
        if self.cfg.bridge_lost_frames:
            self._bridge(frame, out)
        self.timings["track"] += time.perf_counter() - t1
        self.cpu_seconds += time.process_time() - c0
        return out

    def _bridge(self, frame: Frame, out: list[FrameResult]) -> None:
        """Start the chain of bridged poses again at a tracked ``frame``, or extend it by an untracked one."""
        mine = next((r for r in out if r.index == frame.index), None)
        if mine is not None and mine.T_world_cam is not None:
            self.bridge.anchor(frame, invert_pose(mine.T_world_cam))
        elif self.bridge.frame is not None:
            speed = float(np.median(self.motion.speeds)) if self.motion.speeds else 0.0
            matchers = [self.matcher] + ([self.fallback] if self.fallback is not None else [])
            self.bridge.extend(frame, matchers, self.K, self.cfg, speed)

    def finish(self) -> list[FrameResult]:
        """Results of the frames still waiting for an initialisation (they count as lost)."""
        out = [FrameResult.lost(f) for f in self.pending]
        self.lost_frames += len(out)
        self.pending = []
        return out

    def summary(self) -> dict:
        return {"keyframes": len(self.map.keyframes), "lost_frames": self.lost_frames, "failures": self.failures,
                "fallback_frames": self.fallback_frames, "local_map_matches": self.local_map_matches,
                "last_frame_frames": self.last_frame_frames, "bridged_frames": self.bridge.links,
                "bridged_reinitialisations": self.bridged_reinitialisations,
                "reinitialisations": self.reinitialisations, "map_points": int(self.map.alive.sum()),
                "config": asdict(self.cfg)}

    def _drop_pending(self) -> list[FrameResult]:
        """Count the frames waiting for an initialisation lost, and stop waiting."""
        out = [FrameResult.lost(f) for f in self.pending]
        self.lost_frames += len(out)
        self.pending, self.init_reference = [], None
        return out

    def _give_up(self, frame: Frame) -> list[FrameResult]:
        """Count ``frame`` (and frames waiting for an initialisation) lost and start looking again."""
        out = [FrameResult.lost(f) for f in self.pending if f.index != frame.index]
        out.append(FrameResult.lost(frame))
        self.lost_frames += len(out)
        self.pending, self.init_reference, self.last_tracked = [], None, None
        if self.map.keyframes:
            self.state, self.lost_run = TrackerState.LOST, max(self.lost_run, 1)
            self.motion.stop()
        else:
            self.state = TrackerState.INITIALISING
        return out

    def _undistort(self, kp: np.ndarray) -> np.ndarray:
        if self.dist is None or len(kp) == 0:
            return kp
        return cv2.undistortPoints(kp.reshape(-1, 1, 2), self.K, self.dist, P=self.K).reshape(-1, 2)

    # ----------------------------------------------------------------- tracking
    def _localise(self, frame: Frame, guess: np.ndarray | None, iterations: int,
                  pairs: np.ndarray | None = None, matcher: Matcher | None = None) -> Localisation | None:
        return localise(self.map, self.map.keyframes[-1], frame, matcher or self.matcher, self.K, self.cfg, guess,
                        iterations, pairs)

    def _with_fallback(self, attempt: Callable[[Matcher], Localisation | None]) -> Localisation | None:
        """``attempt`` with the matcher, then with the fallback matcher (counted when it succeeds)."""
        found = attempt(self.matcher)
        if found is None and self.fallback is not None:
            found = attempt(self.fallback)
            self.fallback_frames += found is not None
        return found

    def _track(self, frame: Frame) -> FrameResult:
        found = self._with_fallback(lambda matcher: self._track_with(frame, matcher))
        if found is None:
            self.state, self.last_tracked = TrackerState.LOST, None
            self.lost_run = 1
            self.lost_frames += 1
            self.motion.stop()
            return FrameResult.lost(frame)
        return self._accept(frame, found)

    def _track_with(self, frame: Frame, matcher: Matcher) -> Localisation | None:
        """PnP against the last keyframe's map points matched by ``matcher``: from the predicted pose, then
        by plain RANSAC; then the same against the last tracked frame's map points."""
        found = self._track_against(self.map.keyframes[-1], frame, matcher)
        if found is None and self.cfg.track_last_frame and self.last_tracked is not None:
            last = self.last_tracked
            found = self._track_against(last, frame, matcher)
            if found is not None:  # its points as map matches: the frame becomes a keyframe (no keyframe inliers)
                self.last_frame_frames += 1
                map_matches = np.stack([last.point_ids[found.inliers[:, 0]], found.inliers[:, 1]], 1)
                found = Localisation(found.T_cam_world, np.zeros((0, 2), np.int64), np.zeros((0, 2), np.int64),
                                     map_matches)
        return found

    def _track_against(self, reference: Keyframe, frame: Frame, matcher: Matcher) -> Localisation | None:
        pairs = match_map_points(self.map, reference, frame, matcher)
        found = localise(self.map, reference, frame, matcher, self.K, self.cfg, self.motion.predict(),
                         self.cfg.pnp_iterations, pairs)
        if found is None:
            found = localise(self.map, reference, frame, matcher, self.K, self.cfg, None,
                             3 * self.cfg.pnp_iterations, pairs)
        return found

    def _with_local_map(self, frame: Frame, found: Localisation) -> Localisation:
        """``found`` refined on the local map's points found again by projection (as it was when none are)."""
        kf = self.map.keyframes[-1]
        n = len(found.inliers)
        ids = np.concatenate([kf.point_ids[found.inliers[:, 0]], found.map_matches[:, 0]])
        rows = np.concatenate([found.inliers[:, 1], found.map_matches[:, 1]])
        more = track_local_map(self.map, frame, found.T_cam_world, self.K, self.cfg, ids, rows)
        if more is None:
            return found
        T, kept, map_matches = more
        self.local_map_matches += len(map_matches)
        return Localisation(T, found.inliers[kept[:n]], found.pairs,
                            np.concatenate([found.map_matches[kept[n:]], map_matches]))

    def _remember(self, frame: Frame, found: Localisation) -> None:
        """Keep ``frame`` with the map points it tracked, for the next frame to fall back on."""
        ids = tracked_point_ids(frame, self.map.keyframes[-1], found.inliers, found.map_matches)
        self.last_tracked = Keyframe(frame, found.T_cam_world, ids, self.segment)

    def _accept(self, frame: Frame, found: Localisation) -> FrameResult:
        kf = self.map.keyframes[-1]
        if self.cfg.local_map_keyframes > 0:
            found = self._with_local_map(frame, found)
        T = found.T_cam_world
        self.motion.update(T, frame.index)
        status, anchor = FrameStatus.TRACKED, kf
        if kf.first_tracked is None:
            kf.first_tracked = len(found.inliers)
        self.last_tracked = None
        if keyframe_due(self.cfg, len(found.inliers), kf.first_tracked, frame.index - kf.index):
            new = self._add_keyframe(frame, T, found.inliers, found.map_matches)
            T, status, anchor = new.T_cam_world, FrameStatus.KEYFRAME, new
        elif self.cfg.track_last_frame:
            self._remember(frame, found)
        return FrameResult(frame.index, frame.timestamp, status, invert_pose(T), kf, found.inliers, frame).anchored(anchor)

    # ----------------------------------------------------------------- keyframes and the map
    def _add_keyframe(self, frame: Frame, T: np.ndarray, inliers: np.ndarray, map_matches: np.ndarray) -> Keyframe:
        ref = self.map.keyframes[-1]
        new = append_keyframe(self.map, frame, T, inliers, self.segment, map_matches)
        # new points come from every match to the last keyframe, not only those PnP used
        triangulate_new_points(self.map, ref, new, match_keypoints(ref.frame.features, frame.features, self.matcher),
                               self.K, self.cfg)
        self._bundle_adjust()
        release_old_images(self.map)
        self.motion.refine(new.T_cam_world)
        return new

    def _bundle_adjust(self) -> None:
        t0 = time.perf_counter()
        try:
            adjusted = adjust_local_window(self.map, self.K, self.cfg)
        except BundleAdjustmentSkipped as e:  # keep the map as it is
            self.failures.append(f"bundle adjustment skipped: {e}")
            return
        if adjusted:
            self.timings["bundle"] += time.perf_counter() - t0

    # ----------------------------------------------------------------- initialisation and recovery
    def _recover(self, frame: Frame) -> list[FrameResult]:
        if self.cfg.relocalise and self.map.keyframes and self.motion.T_cam_world is not None:
            found = self._with_fallback(
                lambda matcher: self._localise(frame, None, 3 * self.cfg.pnp_iterations, matcher=matcher))
            if found is not None:  # relocalised against the last keyframe
                out = self._drop_pending()
                self.state, self.lost_run = TrackerState.TRACKING, 0
                return out + [self._accept(frame, found)]
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
        pairs = match_keypoints(ref.features, frame.features, self.matcher)
        step = try_two_view(ref, frame, pairs, self.K, self.cfg)
        if step is InitialisationStep.WAIT:
            self.pending.append(frame)
            return []
        if step is InitialisationStep.RESTART:
            out = self._drop_pending()
            self.init_reference, self.pending = frame, [frame]
            return out
        return self._start_map(ref, frame, pairs[step.match_rows], step)

    def _start_map(self, ref: Frame, frame: Frame, pairs: np.ndarray, two) -> list[FrameResult]:
        # a re-initialisation continues from the last known pose with the recent speed as scale
        last_T = self.motion.T_cam_world
        T_ref = last_T if last_T is not None else np.eye(4)
        if ref.index in self.bridge.poses:  # ... or from where the chain across the lost frames reached
            T_ref = self.bridge.poses[ref.index]
            self.bridged_reinitialisations += 1
        scale = 1.0
        if last_T is not None and self.motion.speeds:
            scale = reinitialisation_scale(self.motion.speeds, frame.index - ref.index)
            self.reinitialisations += 1
        self.segment += 1
        kf0, kf1 = seed_map(self.map, ref, frame, pairs, two, T_ref, scale, self.segment)
        self._bundle_adjust()
        self.state, self.lost_run = TrackerState.TRACKING, 0
        out = [FrameResult(ref.index, ref.timestamp, FrameStatus.KEYFRAME, invert_pose(kf0.T_cam_world), None,
                           frame=ref).anchored(kf0)]
        # frames between the two views are localised against the new map
        waiting = [f for f in self.pending if f.index not in (ref.index, frame.index)]
        self.pending, self.init_reference = [], None
        for f in waiting:
            T = place_frame(self.map, kf0, f, self.matcher, self.K, self.cfg)
            if T is None:
                self.lost_frames += 1
                out.append(FrameResult.lost(f))
            else:
                out.append(FrameResult(f.index, f.timestamp, FrameStatus.TRACKED, invert_pose(T), kf0,
                                       frame=f).anchored(kf0))
        out.append(FrameResult(frame.index, frame.timestamp, FrameStatus.KEYFRAME, invert_pose(kf1.T_cam_world), kf0,
                               pairs, frame).anchored(kf1))
        self.motion.restart(kf1.T_cam_world, frame.index)
        self.last_tracked = None
        return out
