"""``slamfeat bench extract``: every model timed on the same image, students also through ONNX Runtime."""

import json

import pytest

from fixtures.core import assert_one_line_error, run_cli
from slamfeat.bench.extract import DEFAULT_MODELS


def test_bench_extract_times_models_and_the_onnx_student(tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "bench.json"
    run_cli("bench", "extract", "--model", "slamfeat-lite", "--model", "orb", "--resolution", "96", "128",
            "--runs", "2", "--threads", "1", "--json", out, check_rc=0)
    report = json.loads(out.read_text())
    assert report["resolution"] == [96, 128] and report["runs"] == 2 and report["threads"] == 1
    assert set(report["results"]) == {"slamfeat-lite", "slamfeat-lite-onnxruntime", "orb"}
    for r in report["results"].values():
        assert 0 < r["ms_min"] <= r["ms_per_image"]
    assert report["results"]["slamfeat-lite"]["params"] == report["results"]["slamfeat-lite-onnxruntime"]["params"] > 0
    assert report["results"]["orb"]["params"] == 0
    assert {"slamfeat-lite", "slamfeat-base", "disk", "aliked-t16"} <= set(DEFAULT_MODELS)


def test_bench_extract_unknown_model(tmp_path):
    proc = run_cli("bench", "extract", "--model", "no-such-model", "--runs", "1")
    assert_one_line_error(proc, "no-such-model")


def test_bench_extract_runs_batches(monkeypatch):
    import slamfeat.bench.extract as bench
    from slamfeat.extract import extract_batch
    sizes = []
    monkeypatch.setattr(bench, "extract_batch", lambda m, x: (sizes.append(tuple(x.shape)), extract_batch(m, x))[1])
    report = bench.bench_extract(["slamfeat-lite", "orb"], (64, 96), runs=1, device="cpu", onnx=False, batch=3)
    assert report["batch"] == 3 and set(report["results"]) == {"slamfeat-lite", "orb"}
    assert set(sizes) == {(3, 3, 64, 96)} and len(sizes) == 4  # warm-up and one round, two models
    for r in report["results"].values():
        assert r["images_per_s"] == pytest.approx(1000 / r["ms_per_image"])


def test_bench_extract_bad_batch():
    proc = run_cli("bench", "extract", "--model", "orb", "--batch", "0", "--runs", "1")
    assert_one_line_error(proc, "batch 0")
