"""``slamfeat.io.outputs``: distinct paths, writable places, the lock of an output, fingerprints."""

import os
import socket

import pytest

from slamfeat.errors import BadInput
from slamfeat.io.outputs import check_distinct, file_digest, lock_path, output_file, output_folder, output_lock


def test_distinct_outputs_and_inputs(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.json"
    check_distinct({"features file": a, "JSON report": b}, {"image": [tmp_path / "x.png"]})
    with pytest.raises(BadInput, match="both the features file and the JSON report"):
        check_distinct({"features file": a, "JSON report": tmp_path / "." / "a.h5"})
    with pytest.raises(BadInput, match="would overwrite the image"):
        check_distinct({"features file": a}, {"image": [tmp_path / "x.png", a]})


def test_output_places(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    assert output_file(tmp_path / "new" / "f.h5") == tmp_path / "new" / "f.h5"
    with pytest.raises(BadInput, match="is a folder"):
        output_file(tmp_path / "dir")
    with pytest.raises(BadInput, match="is a file, not a folder"):
        output_file(tmp_path / "file" / "f.h5")
    with pytest.raises(BadInput, match="is a file"):
        output_folder(tmp_path / "file")
    assert output_folder(tmp_path / "made").is_dir()


def test_lock_is_exclusive_released_and_taken_over_when_stale(tmp_path):
    out = tmp_path / "f.h5"
    with output_lock(out) as lock:
        assert lock == lock_path(out) and lock.read_text().split()[0] == str(os.getpid())
        with pytest.raises(BadInput, match="in use by another slamfeat run"):
            with output_lock(out):
                pass
    assert not lock_path(out).exists()
    lock_path(out).write_text(f"{2 ** 22 + 12345} {socket.gethostname()}\n")  # no such process
    with output_lock(out):
        pass


def test_digest_follows_the_content(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"one")
    b.write_bytes(b"one")
    assert file_digest(a) == file_digest(b)
    b.write_bytes(b"two")
    assert file_digest(a) != file_digest(b)
