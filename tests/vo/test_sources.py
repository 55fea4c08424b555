"""Frame sources: TUM RGB-D folders, intrinsics from flags or a guess, and the cached default sequence."""

import numpy as np
import pytest

from fixtures.vo import write_frame_folder
from slamfeat.errors import BadInput
from slamfeat.vo import choose_camera, open_source
from slamfeat.vo.sources import parse_calib


def _tum_folder(root, frames):
    write_frame_folder(frames, root / "rgb")
    names = sorted((root / "rgb").iterdir())
    times = 1305031102.0 + 0.033 * np.arange(len(names))
    (root / "rgb.txt").write_text("# color images\n# timestamp filename\n"
                                  + "".join(f"{t:.6f} rgb/{p.name}\n" for t, p in zip(times, names)))
    gt = ["# ground truth"] + [f"{t + 0.002:.6f} {i * 0.1} 0 0 0 0 0 1" for i, t in enumerate(times)]
    (root / "groundtruth.txt").write_text("\n".join(gt) + "\n")
    return root, times


def test_tum_folder_with_ground_truth(vo_frames, tmp_path):
    root, times = _tum_folder(tmp_path / "rgbd_dataset_custom", vo_frames[:5])
    source = open_source(root)
    assert source.kind == "tum" and source.num_frames == 5 and source.image_size == (320, 240)
    got = list(source.frames())
    assert np.allclose([t for t, _ in got], times) and got[0][1].shape == (240, 320, 3)
    gt_times, gt_poses = source.ground_truth
    assert gt_poses.shape == (5, 4, 4) and np.isclose(gt_poses[3, 0, 3], 0.3)
    assert source.camera is None  # TUM's own cameras are 640×480; this one is not
    assert choose_camera(source).origin == "guess"


def test_airsim_recording_brings_intrinsics_and_ground_truth(airsim_sequence):
    source = open_source(airsim_sequence)
    assert source.kind == "airsim" and source.num_frames == 30
    camera = choose_camera(source)
    assert camera.origin == "source" and np.isclose(camera.K[0, 0], 160.0)  # 90° over 320 px
    assert choose_camera(source, fov=60.0).K[0, 0] > 270
    assert choose_camera(source, calib="200,210,150,110,0.1,0,0,0").dist is not None
    assert len(source.ground_truth[0]) == 30


def test_calibration_strings():
    K, dist = parse_calib("500,510,320,240")
    assert K[0, 0] == 500 and K[1, 1] == 510 and K[0, 2] == 320 and dist is None
    for bad in ("500,510,320", "a,b,c,d", "1,2,3,4,5"):
        with pytest.raises(BadInput, match="calibration"):
            parse_calib(bad)


def test_default_sequence_is_rendered_once(tmp_path, monkeypatch):
    from slamfeat.vo import default

    monkeypatch.setenv("SLAMFEAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(default.SEQUENCES, "default", ("default", 3, 0, (64, 48), 90.0))
    path = default.default_sequence()
    assert path == tmp_path / "cache" / "default_sequence" and (path / "airsim_rec.txt").is_file()
    stamp = (path / "airsim_rec.txt").stat().st_mtime_ns
    assert default.default_sequence() == path
    assert (path / "airsim_rec.txt").stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["default_sequence"]  # no temporary left
