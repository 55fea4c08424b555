"""The matching benchmark: every contender returns the same matches; the report has the contract keys."""

import json

import pytest
import torch

from fixtures.core import assert_one_line_error
from slamfeat.cli import main
from slamfeat.bench.match import run_benchmark


def test_benchmark_contenders_agree():
    report = run_benchmark(n=96, dim=32, batch=3, threads=1, repeats=1)
    assert report["agree"], report["agreement"]
    for key in ("slamfeat", "opencv_bf", "kornia", "kornia_smnn", "kornia_smnn_batched", "matmul_ceiling"):
        assert report["pairs_per_s"][key] > 0
    assert report["mutual_matches_per_pair"] > 20
    assert report["kernel"] == "bmm" and report["speedup"]["ceiling_fraction"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_benchmark_reports_the_kernel_and_agrees():
    from slamfeat.matching.fused import triton_available
    report = run_benchmark(n=512, dim=128, batch=4, device="cuda", repeats=1)
    assert report["agree"], report["agreement"]
    assert report["kernel"] == ("fused-triton" if triton_available() else "bmm-float16")
    assert report["agreement"]["slamfeat_bmm"] and report["pairs_per_s"]["slamfeat_bmm"] > 0


def test_cli_bench_match_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["bench", "match", "--n", "64", "--dim", "16", "--batch", "2", "--repeats", "1",
                 "--threads", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"device", "threads", "n", "dim", "batch", "pairs_per_s"} <= set(report)
    assert {"slamfeat", "opencv_bf", "kornia"} <= set(report["pairs_per_s"])
    assert (report["n"], report["dim"], report["batch"]) == (64, 16, 2)
    assert "agree" in capsys.readouterr().out


def test_cli_bench_bad_value(capsys):
    import subprocess
    code = main(["bench", "match", "--n", "0"])
    err = capsys.readouterr().err
    assert_one_line_error(subprocess.CompletedProcess([], code, "", err), "--n")


def test_lightglue_beside_mutual_nearest_neighbours():
    report = run_benchmark(n=64, dim=128, batch=2, threads=1, repeats=1, matcher="lightglue")
    assert report["agree"] and report["matcher"] == "lightglue"
    assert report["pairs_per_s"]["lightglue"] > 0 and report["pairs_per_s"]["lightglue_per_pair"] > 0
    lg = report["lightglue"]
    assert lg["weights"] == "aliked_lightglue.pth" and lg["depth_confidence"] > 0 and lg["width_confidence"] > 0
    # half of each pair are noisy copies at consistent positions: LightGlue finds most of the 32
    assert 20 <= lg["matches_per_pair"] <= 40


def test_cli_bench_lightglue_needs_128d(capsys):
    import subprocess
    code = main(["bench", "match", "--matcher", "lightglue", "--dim", "64", "--n", "16", "--batch", "1"])
    assert_one_line_error(subprocess.CompletedProcess([], code, "", capsys.readouterr().err), "64", "128")
