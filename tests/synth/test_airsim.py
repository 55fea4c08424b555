import filecmp

import cv2
import numpy as np
import pytest

from fixtures.airsim import run_cli_here
from fixtures.core import assert_one_line_error
from slamfeat.datasets.airsim import read_recording
from slamfeat.geometry.camera import unproject, warp_keypoints_with_depth
from slamfeat.geometry.pose import relative_pose, transform
from slamfeat.synth.airsim import build_flight, camera_pose, render_sequence
from slamfeat.synth.scene import cast


def _grid(w, h, step=6, margin=4):
    y, x = np.mgrid[margin:h - margin:step, margin:w - margin:step]
    return np.stack([x.ravel(), y.ravel()], 1).astype(np.float64)


def test_projected_points_land_on_the_rendered_pixels(airsim_sequence):
    """A frame's pixels carried with the true depth and pose hit the same 3-D point through the
    other frame's rendered ray (sub-pixel), and the image there has the same colour."""
    rec = read_recording(airsim_sequence)
    scene, bodies = build_flight(0, len(rec))
    for i, j in ((0, 1), (2, 7), (5, 15)):
        T0, T1 = rec.frames[i].T_world_cam, rec.frames[j].T_world_cam
        assert np.allclose(camera_pose(bodies[j]), T1, atol=1e-5)
        d0, d1 = rec.read_depth(i), rec.read_depth(j)
        kp0 = _grid(*rec.image_size)
        kp1, cov = warp_keypoints_with_depth(kp0, d0, rec.K, rec.K, relative_pose(T0, T1), d1)
        assert cov.mean() > 0.5
        X = transform(T0, unproject(kp0[cov], d0[kp0[cov, 1].astype(int), kp0[cov, 0].astype(int)], rec.K))
        rays = (np.c_[(kp1[cov] - rec.K[:2, 2]) / np.diag(rec.K)[:2], np.ones(cov.sum())]) @ T1[:3, :3].T
        hit = cast(scene, np.broadcast_to(T1[:3, 3], rays.shape), rays)
        Y = T1[:3, 3] + rays * hit["t_hit"][:, None]
        # 3-D distance as a fraction of a pixel's footprint at that depth
        err_px = np.linalg.norm(X - Y, axis=1) / (hit["t_hit"] / rec.K[0, 0])
        assert np.median(err_px) < 0.05 and np.mean(err_px < 0.5) > 0.97
        im0, im1 = (rec.read_image(k).astype(np.float32) for k in (i, j))
        a = im0[kp0[cov, 1].astype(int), kp0[cov, 0].astype(int)]

        def residual(shift):
            m = (kp1[cov] + shift).astype(np.float32)
            return np.median(np.abs(cv2.remap(im1, m[:, 0][None], m[:, 1][None], cv2.INTER_LINEAR)[0] - a))

        at_zero = residual([0.0, 0.0])
        assert all(at_zero < residual(s) for s in ([0.5, 0], [-0.5, 0], [0, 0.5], [0, -0.5]))


def test_textured_without_sky_and_moving_smoothly(airsim_sequence):
    rec = read_recording(airsim_sequence)
    for i in (0, len(rec) - 1):
        gray = rec.read_image(i, grayscale=True).astype(np.float32)
        gradient = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
        assert np.mean(gradient > 40) > 0.15
        assert np.mean(rec.read_depth(i) > 0) > 0.99
        assert 3 < np.median(rec.read_depth(i)) < 40
    steps = [np.linalg.norm(relative_pose(a.T_world_cam, b.T_world_cam)[:3, 3]) for a, b in zip(rec.frames, rec.frames[1:])]
    assert 0.2 < min(steps) and max(steps) < 0.5


def test_deterministic_and_hard_preset(tmp_path):
    a = render_sequence(tmp_path / "a", frames=3, seed=4, size=(96, 72), preset="hard")
    b = render_sequence(tmp_path / "b", frames=3, seed=4, size=(96, 72), preset="hard")
    names = sorted(p.name for p in (a / "images").iterdir())
    assert len(names) == 6
    assert filecmp.cmpfiles(a / "images", b / "images", names, shallow=False)[0] == names
    assert (a / "airsim_rec.txt").read_text() == (b / "airsim_rec.txt").read_text()
    c = render_sequence(tmp_path / "c", frames=3, seed=5, size=(96, 72), preset="hard")
    assert (a / "airsim_rec.txt").read_text() != (c / "airsim_rec.txt").read_text()
    rec = read_recording(a)
    step = np.linalg.norm(rec.frames[1].T_world_cam[:3, 3] - rec.frames[0].T_world_cam[:3, 3])
    assert step > 0.7  # the hard preset flies faster


def test_cli(tmp_path, capsys):
    proc = run_cli_here(capsys, "synth", "airsim", "--out", tmp_path / "r", "--frames", "2", "--size", "64x48",
                        "--fov", "70", "--pairs-out", tmp_path / "p.txt")
    assert proc.returncode == 0, proc.stderr
    rec = read_recording(tmp_path / "r")
    assert rec.image_size == (64, 48) and rec.K[0, 0] == pytest.approx(32 / np.tan(np.radians(35)))
    assert_one_line_error(run_cli_here(capsys, "synth", "airsim", "--out", tmp_path / "x", "--size", "64by48"), "--size")
    assert_one_line_error(run_cli_here(capsys, "synth", "airsim", "--out", tmp_path / "x", "--frames", "0"), "--frames")
    assert_one_line_error(run_cli_here(capsys, "synth", "airsim", "--out", tmp_path / "x", "--speed", "-1"), "speed")


def test_speed_override(tmp_path):
    rec = read_recording(render_sequence(tmp_path / "s", frames=2, size=(32, 24), speed=2.0, light_change=True))
    assert np.linalg.norm(rec.frames[1].T_world_cam[:3, 3] - rec.frames[0].T_world_cam[:3, 3]) == pytest.approx(2.0, rel=0.05)
