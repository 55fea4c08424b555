import json
import shutil

import cv2
import numpy as np
import pytest

from fixtures.airsim import AIRSIM_FRAMES, AIRSIM_SIZE
from slamfeat.datasets.airsim import (perspective_to_planar, read_depth_file, read_pfm, read_recording, write_depth_png,
                                      write_pfm)
from slamfeat.io.pairs import read_pose_pairs
from slamfeat.errors import BadInput
from slamfeat.geometry.pose import relative_pose
from slamfeat.io.tum import read_tum

HEADER = "VehicleName\tTimeStamp\tPOS_X\tPOS_Y\tPOS_Z\tQ_W\tQ_X\tQ_Y\tQ_Z\tImageFile\n"


def _one_frame_recording(root, quaternion_wxyz, settings=None):
    (root / "images").mkdir(parents=True)
    cv2.imwrite(str(root / "images" / "img_Drone1_0_0_1000.png"), np.zeros((48, 64, 3), np.uint8))
    q = "\t".join(str(v) for v in quaternion_wxyz)
    (root / "airsim_rec.txt").write_text(HEADER + f"Drone1\t1000\t1.0\t2.0\t-3.0\t{q}\timg_Drone1_0_0_1000.png\n")
    if settings is not None:
        (root / "settings.json").write_text(json.dumps(settings))
    return read_recording(root)


def test_hand_checked_poses(tmp_path):
    # level, heading north: the camera looks north (world x), its right is east (y), its down is down (z)
    rec = _one_frame_recording(tmp_path / "a", (1, 0, 0, 0))
    T = rec.frames[0].T_world_cam
    assert np.allclose(T[:3, :3], [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert np.allclose(T[:3, 3], [1, 2, -3])
    assert rec.frames[0].timestamp == pytest.approx(1.0) and rec.frames[0].depth_path is None
    assert np.allclose(rec.K, [[32, 0, 31.5], [0, 32, 23.5], [0, 0, 1]])  # 90°: f = W/2
    # yaw 90° (heading east): looking east, right hand points south
    s = np.sqrt(0.5)
    T = _one_frame_recording(tmp_path / "b", (s, 0, 0, s)).frames[0].T_world_cam
    assert np.allclose(T[:3, 2], [0, 1, 0]) and np.allclose(T[:3, 0], [-1, 0, 0]) and np.allclose(T[:3, 1], [0, 0, 1])
    # a camera pitched 90° down in settings.json looks down (+z), its image top faces north
    settings = {"CameraDefaults": {"Pitch": -90, "CaptureSettings": [{"ImageType": 0, "FOV_Degrees": 60}]}}
    rec = _one_frame_recording(tmp_path / "c", (1, 0, 0, 0), settings)
    T = rec.frames[0].T_world_cam
    assert np.allclose(T[:3, 2], [0, 0, 1]) and np.allclose(T[:3, 1], [-1, 0, 0])
    assert rec.K[0, 0] == pytest.approx(32 / np.tan(np.radians(30)))


def test_car_recording_columns_and_camera_names(tmp_path):
    # car recordings add columns before ImageFile; camera names may hold underscores
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "img_front_center_0_5.png"), np.zeros((20, 30, 3), np.uint8))
    write_pfm(tmp_path / "images" / "img_front_center_1_5.pfm", np.full((20, 30), 7.0, np.float32))
    header = "VehicleName\tTimeStamp\tPOS_X\tPOS_Y\tPOS_Z\tQ_W\tQ_X\tQ_Y\tQ_Z\tThrottle\tSteering\tImageFile\n"
    line = "Car1\t5\t1\t2\t3\t1\t0\t0\t0\t0.5\t0.1\timg_front_center_1_5.pfm;img_front_center_0_5.png\n"
    (tmp_path / "airsim_rec.txt").write_text(header + line)
    rec = read_recording(tmp_path)
    assert rec.frames[0].image_path.name == "img_front_center_0_5.png"
    assert rec.frames[0].depth_path.name == "img_front_center_1_5.pfm" and np.all(rec.read_depth(0) == 7.0)
    assert np.allclose(rec.frames[0].T_world_cam[:3, 3], [1, 2, 3])


def test_reader_agrees_with_renderer(airsim_sequence):
    rec = read_recording(airsim_sequence)
    assert len(rec) == AIRSIM_FRAMES and rec.image_size == AIRSIM_SIZE and rec.has_depth
    assert rec.K[0, 0] == pytest.approx(AIRSIM_SIZE[0] / 2)
    depth = rec.read_depth(3)
    assert depth.shape == AIRSIM_SIZE[::-1] and depth.dtype == np.float32 and (depth > 0).mean() > 0.99
    assert rec.read_image(3).shape == (*AIRSIM_SIZE[::-1], 3)
    stamps, poses = read_tum(airsim_sequence / "groundtruth.txt")
    assert np.allclose(stamps, [f.timestamp for f in rec.frames])
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(poses, rec.poses()))
    pairs = read_pose_pairs(airsim_sequence / "pairs.txt")
    index = {f.image_path.name: i for i, f in enumerate(rec.frames)}
    assert len(pairs) > 5
    for p in pairs:
        T = relative_pose(rec.frames[index[p.name0]].T_world_cam, rec.frames[index[p.name1]].T_world_cam)
        assert np.allclose(p.T_0to1, T, atol=1e-4) and np.allclose(p.K0, rec.K)


def test_depth_formats(tmp_path, airsim_sequence):
    rec = read_recording(airsim_sequence)
    planar = rec.read_depth(0)
    write_pfm(tmp_path / "d.pfm", planar)
    assert np.array_equal(read_pfm(tmp_path / "d.pfm"), planar)
    write_depth_png(tmp_path / "d.png", planar)
    near = planar < 65.0
    back = read_depth_file(tmp_path / "d.png")
    assert np.allclose(back[near], planar[near], atol=5e-4) and np.all(back[planar > 65.54] == 0)
    # a DepthPerspective recording (image type 2) reads back as planar depth
    copy = shutil.copytree(airsim_sequence, tmp_path / "rec")
    h, w = planar.shape
    x, y = np.meshgrid((np.arange(w) - rec.K[0, 2]) / rec.K[0, 0], (np.arange(h) - rec.K[1, 2]) / rec.K[1, 1])
    ray = planar * np.sqrt(1 + x ** 2 + y ** 2)
    assert np.allclose(perspective_to_planar(ray, rec.K), planar, rtol=1e-5)
    name = rec.frames[0].depth_path.name
    write_depth_png(copy / "images" / name.replace("_0_1_", "_0_2_").replace(".pfm", ".png"), ray)
    text = (copy / "airsim_rec.txt").read_text().replace(name, name.replace("_0_1_", "_0_2_").replace(".pfm", ".png"))
    (copy / "airsim_rec.txt").write_text(text)
    back = read_recording(copy)
    assert back.frames[0].depth_type == "perspective"
    near = ray < 65.0
    assert near.mean() > 0.5 and np.allclose(back.read_depth(0)[near], planar[near], rtol=2e-3, atol=2e-3)


def _broken(airsim_sequence, tmp_path, how):
    root = shutil.copytree(airsim_sequence, tmp_path / "rec")
    rec = read_recording(root)
    lines = (root / "airsim_rec.txt").read_text().splitlines()
    if how == "missing":
        rec.frames[2].image_path.unlink()
    elif how == "malformed":
        lines[4] = "\t".join(lines[4].split("\t")[:6])
    elif how == "depth-size":
        write_pfm(rec.frames[1].depth_path, np.ones((10, 12), np.float32))
    (root / "airsim_rec.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.parametrize("how,fragment", [("missing", "does not exist"), ("malformed", "airsim_rec.txt:5"),
                                          ("depth-size", "12×10 px")])
def test_bad_recordings_raise(airsim_sequence, tmp_path, how, fragment):
    root = _broken(airsim_sequence, tmp_path, how)
    with pytest.raises(BadInput, match=fragment):
        rec = read_recording(root)
        for i in range(len(rec)):
            rec.read_depth(i)
