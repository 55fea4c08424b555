"""``torchrun -m slamfeat extract|match`` on two CPU processes (gloo): the same datasets, byte for byte,
as one process; a killed run resumes shard by shard; shard assignment and merging."""

import os
import subprocess
import sys

import cv2
import h5py
import numpy as np
import pytest
import torch

from slamfeat.cli import main
from slamfeat.distributed import Shard, current_shard
from slamfeat.io.h5 import feature_names, merge_shards, start_shard, write_features_group
from slamfeat.features.base import Features


def _datasets(path):
    """Every dataset of an h5 file as (dtype, shape, bytes) and every group's attributes."""
    out = {}

    def visit(name, obj):
        out[name] = (obj.dtype.str, obj.shape, obj[()].tobytes()) if isinstance(obj, h5py.Dataset) else dict(obj.attrs)
    with h5py.File(path) as f:
        f.visititems(visit)
    return out


def _torchrun(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "slamfeat", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _one_process(*args):
    saved = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun process: the same arithmetic
    try:
        assert main([str(a) for a in args]) == 0
    finally:
        torch.set_num_threads(saved)


def test_two_processes_write_what_one_process_writes_and_resume_per_shard(tmp_path, astronaut_small):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(5):
        cv2.imwrite(str(images / f"{i}.png"), cv2.cvtColor(np.roll(astronaut_small, 9 * i, 1), cv2.COLOR_RGB2BGR))
    (images / "3.png").write_text("broken")  # rank 1's second image (ranks take every other image)
    out = tmp_path / "two" / "features.h5"
    common = ["--model", "slamfeat-lite", "--max-keypoints", "150", "--device", "cpu"]

    failed = _torchrun("extract", images, "--out", out, *common)
    assert failed.returncode != 0 and "3.png" in failed.stderr
    assert not out.exists()
    with h5py.File(out.with_name("features.h5.rank1-of-2.partial")) as f:
        assert list(f) == ["1.png"]  # written before the broken image's turn

    cv2.imwrite(str(images / "3.png"), cv2.cvtColor(astronaut_small[::-1], cv2.COLOR_RGB2BGR))
    done = _torchrun("extract", images, "--out", out, "--json", tmp_path / "r.json", *common)
    assert done.returncode == 0, done.stderr[-2000:]
    report = __import__("json").loads((tmp_path / "r.json").read_text())
    assert report["processes"] == 2 and report["images"] == 5 and 1 <= report["extracted"] <= 4  # 1.png kept
    assert sorted(p.name for p in out.parent.iterdir()) == ["features.h5"]  # shards merged and removed

    single = tmp_path / "one" / "features.h5"
    _one_process("extract", images, "--out", single, *common)
    assert _datasets(out) == _datasets(single)

    pairs = tmp_path / "pairs.txt"
    assert main(["pairs", str(images), "--mode", "exhaustive", "--out", str(pairs)]) == 0
    matches = tmp_path / "two" / "matches.h5"
    done = _torchrun("match", "--features", out, "--pairs", pairs, "--out", matches, "--ratio", "0.9",
                     "--batch-size", "3", "--device", "cpu")
    assert done.returncode == 0, done.stderr[-2000:]
    _one_process("match", "--features", single, "--pairs", pairs, "--out", tmp_path / "one" / "matches.h5",
                 "--ratio", "0.9", "--batch-size", "3", "--device", "cpu")
    two, one = _datasets(matches), _datasets(tmp_path / "one" / "matches.h5")
    assert two == one and sum(k.endswith("matches0") for k in one) == 10


def test_shards_take_every_world_th_item_and_merge_into_the_output(tmp_path):
    items = list(range(11))
    shards = [Shard(r, 3) for r in range(3)]
    assert sorted(sum((s.take(items) for s in shards), [])) == items
    assert shards[1].take(items) == [1, 4, 7, 10]
    out = tmp_path / "f.h5"
    assert shards[2].path(out).name == "f.h5.rank2-of-3.partial"

    def feats(k):
        return Features(torch.full((k, 2), float(k)), torch.ones(k), torch.zeros(k, 4), (8, 8))
    with h5py.File(out, "w") as f:  # an earlier output: kept
        write_features_group(f, "old", feats(1))
    for s in shards:
        assert start_shard(s.path(out), feature_names) == set()
        with h5py.File(s.path(out), "a") as f:
            write_features_group(f, f"seq/{s.rank}.png", feats(s.rank + 2))
    (tmp_path / "f.h5.rank9-of-9.partial").write_text("cut short")  # not a shard of this run: ignored
    assert start_shard(shards[0].path(out), feature_names) == {"seq/0.png"}  # resumed
    assert merge_shards(out, [s.path(out) for s in shards], feature_names) == 3
    assert sorted(feature_names(out)) == ["old", "seq/0.png", "seq/1.png", "seq/2.png"]
    assert not any(s.path(out).exists() for s in shards)
    with h5py.File(out) as f:
        assert f["seq/2.png/keypoints"].shape == (4, 2) and f["seq/2.png/keypoints"].dtype == np.float32


def test_a_cut_short_shard_starts_again(tmp_path):
    path = tmp_path / "f.h5.rank0-of-2.partial"
    path.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    assert start_shard(path, feature_names) == set()
    assert feature_names(path) == []


def test_without_torchrun_there_is_no_shard():
    assert "WORLD_SIZE" not in os.environ or os.environ["WORLD_SIZE"] == "1"
    assert current_shard() is None


def test_a_command_leaves_the_process_group_it_ran_in(tmp_path):
    """The process group is destroyed when the command returns: left to interpreter shutdown, gloo's
    threads can abort a finished rank (pytorch/pytorch#190489), which failed this file's torchrun test."""
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        assert main(["pairs", str(tmp_path / "missing"), "--out", str(tmp_path / "p.txt")]) == 2
        assert not torch.distributed.is_initialized()
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
