import h5py
import numpy as np
import pycolmap

from slamfeat.io.h5 import pair_key
from slamfeat.reconstruction import COLMAP_PIXEL_OFFSET, database_is_complete, database_statistics


def test_keypoints_follow_colmap_convention(sift_reconstruction):
    out, _ = sift_reconstruction
    with pycolmap.Database.open(out / "database.db") as db, h5py.File(out / "features.h5", "r") as f:
        images = db.read_all_images()
        assert len(images) == 10
        for image in images[:3]:
            keypoints = db.read_keypoints(image.image_id)[:, :2]
            np.testing.assert_allclose(keypoints, f[image.name]["keypoints"][()] + COLMAP_PIXEL_OFFSET, atol=1e-5)


def test_matches_and_verified_geometry_are_written(sift_reconstruction):
    out, _ = sift_reconstruction
    name0, name1 = (out / "pairs.txt").read_text().split("\n")[0].split()
    with h5py.File(out / "matches.h5", "r") as f:
        matches0 = f[pair_key(name0, name1)]["matches0"][()]
    with pycolmap.Database.open(out / "database.db") as db:
        ids = {image.name: image.image_id for image in db.read_all_images()}
        written = db.read_matches(ids[name0], ids[name1])
        inliers = db.read_two_view_geometry(ids[name0], ids[name1]).inlier_matches
    index0 = np.flatnonzero(matches0 >= 0)
    np.testing.assert_array_equal(written, np.stack([index0, matches0[index0]], 1))
    assert 15 <= len(inliers) <= len(written)  # verified: a subset of the matches
    stats = database_statistics(out / "database.db")
    assert stats["images"] == 10 and stats["verified_pairs"] > 0 and stats["inlier_matches"] > 0


def test_completeness_check(sift_reconstruction, tmp_path):
    out, _ = sift_reconstruction
    pairs = [tuple(line.split()) for line in (out / "pairs.txt").read_text().splitlines()]
    names = sorted({n for p in pairs for n in p})
    assert database_is_complete(out / "database.db", names, pairs)
    assert not database_is_complete(out / "database.db", names + ["other.png"], pairs)
    assert not database_is_complete(tmp_path / "none.db", names, pairs)
    (tmp_path / "junk.db").write_text("not a database")
    assert not database_is_complete(tmp_path / "junk.db", names, pairs)
