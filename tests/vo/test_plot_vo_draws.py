"""scripts/plot_vo_draws.py: result lines grouped by front end, a draw counted once, a picture written, bad input refused."""

import subprocess
import sys

import pytest

from fixtures.core import assert_one_line_error, load_script, script_path

SCRIPT = script_path("plot_vo_draws")
LINES = """runs/hard_sequence nn | nn ate_rmse_rel=0.00158 rpe_trans=0.03068 lost=0
runs/hard_sequence | nn ate_rmse_rel=0.00158 rpe_trans=0.03068 lost=0
runs/hard_sequence nn --ransac-seed 1 | nn --ransac-seed 1 ate_rmse_rel=0.03826 rpe_trans=0.2748
runs/hard_sequence lightglue --ransac-seed 1 --set ba_window=10 | lightglue --ransac-seed 1 --set ba_window=10 ate_rmse_rel=0.0011 rpe_trans=0.03
runs/hard_2 | nn ate_rmse_rel=0.004907 rpe_trans=0.07487
finished runs/s28/j1.txt
"""


@pytest.fixture
def plot():
    return load_script("plot_vo_draws")


def test_runs_are_grouped_by_front_end_and_a_draw_counts_once(plot, tmp_path):
    results = tmp_path / "results.txt"
    results.write_text(LINES)
    runs = plot.read_runs([str(results)], "runs/hard_sequence")
    assert runs == {"nn": pytest.approx([0.158, 3.826]), "lightglue --set ba_window=10": pytest.approx([0.11])}
    # without --only the sources mix: hard_2's default draw is another run
    assert plot.read_runs([str(results)], None)["nn"] == pytest.approx([0.158, 3.826, 0.4907])


def test_the_picture_is_written_and_bad_input_gets_exit_2(tmp_path):
    results = tmp_path / "results.txt"
    results.write_text(LINES)
    out = tmp_path / "draws.png"
    run = subprocess.run([sys.executable, str(SCRIPT), str(out), str(results), "--only", "runs/hard_sequence"])
    assert run.returncode == 0 and out.read_bytes()[:4] == b"\x89PNG"
    for args in ([str(out), str(tmp_path / "missing.txt")], [str(out), str(SCRIPT)], [str(out), str(results), "--only"],
                 ["draws.txt", str(results)]):
        assert_one_line_error(subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True))
