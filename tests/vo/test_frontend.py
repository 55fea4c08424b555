"""The front end on short rendered sequences: the path up to scale, losing and recovering, and the
same result from a video and an image folder of the same frames."""

import numpy as np
import torch
import pytest

from fixtures.vo import BLANK_FRAMES, write_frame_folder, write_lossless_video
from slamfeat.matching import MatcherConfig
from slamfeat.vo import VOConfig, VisualOdometry, choose_camera, open_source, trajectory_errors


def _run(source, extractor, config=None, fov=None):
    camera = choose_camera(source, fov=fov)
    vo = VisualOdometry(extractor, camera.K, camera.dist, config)
    results = []
    for index, (timestamp, image) in enumerate(source.frames()):
        results += vo.process(timestamp, image, index)
    results += vo.finish()
    assert [r.index for r in results] == list(range(len(results)))  # every frame answered, in order
    return vo, results


def _poses(results):
    tracked = [r for r in results if r.T_world_cam is not None]
    return np.array([r.timestamp for r in tracked]), np.stack([r.T_world_cam for r in tracked]), tracked


@pytest.mark.parametrize("local_map", [0, 5], ids=["last-keyframe", "local-map"])
def test_trajectory_recovered_up_to_scale(airsim_sequence, vo_extractor, local_map):
    source = open_source(airsim_sequence)
    vo, results = _run(source, vo_extractor, VOConfig(local_map_keyframes=local_map))
    times, poses, tracked = _poses(results)
    assert len(tracked) >= len(results) - 1  # at most the first frames wait for the initialisation
    errors = trajectory_errors(times, poses, *source.ground_truth)
    assert errors.trajectory_length > 1.0
    assert errors.ate_rmse_rel < 0.02, errors.ate_rmse_rel
    assert errors.rpe_rot_deg < 1.0
    assert 2 <= len(vo.map.keyframes) < len(results)
    xyz, colors = vo.map.observed_points()
    assert len(xyz) > 100 and colors.dtype == np.uint8
    # the trajectory as the map ends: every keyframe where the bundle adjustment left it, the rest beside them
    keyframes = [r for r in results if r.status == "keyframe"]
    assert len(keyframes) == len(vo.map.keyframes)
    assert all(np.allclose(r.final_pose(), np.linalg.inv(r.anchor.T_cam_world)) for r in keyframes)
    assert any(not np.allclose(r.final_pose(), r.T_world_cam) for r in keyframes)  # some did move
    final = np.stack([r.final_pose() for r in tracked])
    assert trajectory_errors(times, final, *source.ground_truth).ate_rmse_rel < 0.02
    # with the local map, keyframes observe again points that the keyframe before them had lost
    refound = sum(int(np.isin(np.setdiff1d(kf.point_ids[kf.point_ids >= 0], before.point_ids), older.point_ids).sum())
                  for older, before, kf in zip(vo.map.keyframes, vo.map.keyframes[1:], vo.map.keyframes[2:]))
    assert (vo.local_map_matches > 0 and refound > 0) if local_map else (vo.local_map_matches == 0 and refound == 0)


@pytest.mark.parametrize("relocalise", [True, False], ids=["relocalise", "reinitialise"])
def test_blank_stretch_loses_tracking_and_recovers(vo_blank_folder, vo_extractor, relocalise):
    source = open_source(vo_blank_folder)
    vo, results = _run(source, vo_extractor, VOConfig(relocalise=relocalise), fov=90.0)
    first, end = BLANK_FRAMES
    status = [r.status for r in results]
    assert all(s == "lost" for s in status[first:end]), status
    assert vo.lost_frames >= end - first
    after = [r for r in results[end:] if r.T_world_cam is not None]
    assert len(after) >= len(results) - end - (vo.cfg.reinitialise_after + 3), status
    if not relocalise:
        assert vo.reinitialisations == 1
    times, poses, _ = _poses(results)
    assert np.isfinite(poses).all()
    # the path keeps going the same way after the gap (the re-initialised scale follows the old speed)
    steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    assert np.median(steps[-5:]) < 5 * np.median(steps[:5])


def test_video_and_folder_give_the_same_trajectory(vo_frames, vo_extractor, tmp_path):
    frames = vo_frames[:12]
    folder = open_source(write_frame_folder(frames, tmp_path / "frames"), fps=30.0)
    video = open_source(write_lossless_video(frames, tmp_path / "frames.avi", fps=30.0))
    assert video.kind == "video" and folder.kind == "folder" and video.image_size == folder.image_size
    _, from_folder = _run(folder, vo_extractor, fov=90.0)
    _, from_video = _run(video, vo_extractor, fov=90.0)
    t0, p0, _ = _poses(from_folder)
    t1, p1, _ = _poses(from_video)
    assert len(t0) >= 9 and np.allclose(t0, t1)
    assert np.allclose(p0, p1, atol=1e-6)


def test_frames_without_structure_are_lost_not_fatal(vo_extractor):
    from slamfeat.vo.sources import FrameSource

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(5)] + \
             [np.full((240, 320, 3), 90, np.uint8) for _ in range(3)]
    source = FrameSource("noise", "folder", (320, 240), len(images), lambda: ((i / 30, im) for i, im in enumerate(images)))
    vo, results = _run(source, vo_extractor, fov=90.0)
    assert len(results) == len(images)
    assert all(r.T_world_cam is None for r in results)


class _Blindable:
    """A matcher that finds nothing while ``blind`` is set (a stretch the primary matcher cannot track)."""

    def __init__(self, matcher):
        self.inner, self.blind = matcher, False

    def match(self, f0, f1):
        m0, scores = self.inner.match(f0, f1)
        return (torch.full_like(m0, -1), scores) if self.blind else (m0, scores)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("fallback", [False, True])
def test_fallback_matcher_tracks_the_frames_the_matcher_cannot(airsim_sequence, vo_extractor, fallback):
    source = open_source(airsim_sequence)
    camera = choose_camera(source)
    config = VOConfig(fallback_matcher=MatcherConfig("nn", ratio=0.9) if fallback else None)
    vo = VisualOdometry(vo_extractor, camera.K, camera.dist, config)
    vo.matcher = primary = _Blindable(vo.matcher)
    blind = range(12, 16)
    results = []
    for index, (timestamp, image) in enumerate(source.frames()):
        primary.blind = index in blind
        results += vo.process(timestamp, image, index)
    results += vo.finish()
    status = [r.status for r in results]
    if not fallback:
        assert all(status[i] == "lost" for i in blind) and vo.fallback_frames == 0, status
        return
    assert vo.lost_frames == 0 and vo.fallback_frames == len(blind), status
    times, poses, _ = _poses(results)
    assert trajectory_errors(times, poses, *source.ground_truth).ate_rmse_rel < 0.02


def test_default_fallback_is_the_features_lightglue_behind_mutual_nn(airsim_sequence, vo_extractor):
    from slamfeat import load_extractor
    from slamfeat.errors import BadInput

    source = open_source(airsim_sequence)
    camera = choose_camera(source)
    lite = load_extractor("slamfeat-lite", max_keypoints=256)
    # a student: its teacher's LightGlue stands behind mutual NN, and tracks the frames NN cannot
    vo = VisualOdometry(lite, camera.K, camera.dist)
    assert vo.cfg.fallback_matcher == "auto" and vo.fallback.describe()["name"] == "lightglue"
    assert vo.fallback.kind.lightglue == "aliked-n16"
    vo.matcher = primary = _Blindable(vo.matcher)
    results = []
    for index, (timestamp, image) in enumerate(source.frames()):
        if index >= 18:
            break
        primary.blind = index in (12, 13)
        results += vo.process(timestamp, image, index)
    assert vo.fallback_frames == 2 and vo.lost_frames == 0, [r.status for r in results]
    # none where LightGlue is the matcher already, where the features have none, or when switched off
    assert VisualOdometry(lite, camera.K, config=VOConfig(matcher=MatcherConfig("lightglue"))).fallback is None
    assert VisualOdometry(vo_extractor, camera.K).fallback is None  # sift
    assert VisualOdometry(lite, camera.K, config=VOConfig(fallback_matcher=None)).fallback is None
    with pytest.raises(BadInput, match="fallback matcher"):
        VOConfig(fallback_matcher="lightglue")


def _lost_from_frame_12(vo):
    """Make the first map useless from frame 12 on (tracking, the last frame and relocalisation find nothing),
    so that a new map must start; the frames themselves stay as they are."""
    track, localise = vo._track_against, vo._localise

    def blind_track(reference, frame, matcher):
        return None if reference.segment == 0 and frame.index >= 12 else track(reference, frame, matcher)

    def blind_localise(frame, *args, **kwargs):
        return None if vo.map.keyframes[-1].segment == 0 and frame.index >= 12 else localise(frame, *args, **kwargs)

    vo._track_against, vo._localise = blind_track, blind_localise


def test_the_new_map_after_lost_frames_starts_where_the_chain_across_them_reached(airsim_sequence, vo_extractor):
    source = open_source(airsim_sequence)
    camera = choose_camera(source)
    gt_times, gt_poses = source.ground_truth
    runs = {}
    for bridge in (False, True):
        vo = VisualOdometry(vo_extractor, camera.K, camera.dist, VOConfig(bridge_lost_frames=bridge))
        _lost_from_frame_12(vo)
        results = []
        for index, (timestamp, image) in enumerate(source.frames()):
            results += vo.process(timestamp, image, index)
        results += vo.finish()
        assert vo.reinitialisations == 1 and vo.bridged_reinitialisations == int(bridge)
        assert (vo.bridge.links >= 4) if bridge else vo.bridge.links == 0
        runs[bridge] = vo, results
    # the new map's first keyframe against frame 11, the last one tracked before the loss, and the truth
    errors = {}
    for bridge, (vo, results) in runs.items():
        first = next(kf for kf in vo.map.keyframes if kf.segment == 1)
        before = next(r for r in results if r.index == 11)
        T_11_to_kf = first.T_cam_world @ before.T_world_cam
        true = np.linalg.inv(gt_poses[first.index]) @ gt_poses[11]
        rot = float(np.degrees(np.arccos(np.clip((np.trace(T_11_to_kf[:3, :3] @ true[:3, :3].T) - 1) / 2, -1, 1))))
        times, poses, _ = _poses(results)
        errors[bridge] = rot, trajectory_errors(times, poses, gt_times, gt_poses).ate_rmse_rel
    (rot_plain, ate_plain), (rot_bridged, ate_bridged) = errors[False], errors[True]
    assert rot_bridged < 0.3 and rot_bridged < 0.5 * rot_plain, errors
    assert ate_bridged < ate_plain, errors


@pytest.mark.parametrize("last_frame", [False, True])
def test_a_frame_the_keyframe_cannot_place_is_tracked_against_the_last_frame(airsim_sequence, vo_extractor,
                                                                              last_frame):
    source = open_source(airsim_sequence)
    camera = choose_camera(source)
    vo = VisualOdometry(vo_extractor, camera.K, camera.dist,
                        VOConfig(track_last_frame=last_frame, relocalise=False, bridge_lost_frames=False))
    track = vo._track_against
    blind = []  # the first frame from 14 on that follows a tracked frame (not a keyframe) is blind

    def keyframes_blind(reference, frame, matcher):  # ... to the keyframes' points: it finds none of them
        if not blind and frame.index >= 14 and (vo.last_tracked is not None or not last_frame):
            blind.append(frame.index)
        in_map = any(reference is kf for kf in vo.map.keyframes)
        return None if in_map and blind == [frame.index] else track(reference, frame, matcher)

    vo._track_against = keyframes_blind
    results = []
    for index, (timestamp, image) in enumerate(source.frames()):
        results += vo.process(timestamp, image, index)
    results += vo.finish()
    status = {r.index: str(r.status) for r in results}
    assert blind, status
    if not last_frame:
        assert status[blind[0]] == "lost" and vo.last_frame_frames == 0
        return
    assert status[blind[0]] == "keyframe" and vo.last_frame_frames == 1 and vo.lost_frames == 0, status
    times, poses, _ = _poses(results)
    assert trajectory_errors(times, poses, *source.ground_truth).ate_rmse_rel < 0.02
