"""One picture of VO runs over RANSAC draws: each run's ATE as a dot, one row per front end.

    python scripts/plot_vo_draws.py OUT.png RESULTS.txt [RESULTS.txt …] [--only TEXT]

RESULTS files hold the lines ``vo_matcher_ablation.py`` prints (``VARIANT [options] ate_rmse_rel=…``),
as they are or after a ``SOURCE … | `` prefix. Runs are grouped by variant and options without
``--ransac-seed`` (the same draw of one source counts once); a row shows every draw (log scale) and its
median. ``--only TEXT`` keeps the lines that contain TEXT: the sequence's folder, since rows mix
sources otherwise. Bad input gives one line and exit status 2.
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

LINE = re.compile(r"(?:^|\| )(\S+(?: --\S+ \S+)*?) ate_rmse_rel=([0-9.eE+-]+)")


def die(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(2)


def read_runs(paths: list[str], only: str | None) -> dict[str, list[float]]:
    """ATE in % of the path per front end, from the result lines of ``paths``."""
    runs: dict[str, list[float]] = defaultdict(list)
    seen = set()  # (source, front end, draw): a draw run twice counts once
    for path in paths:
        if not Path(path).is_file():
            die(f"{path}: no such results file")
        for line in Path(path).read_text().splitlines():
            found = LINE.search(line)
            if found and (only is None or only in line):
                seed = re.search(r" --ransac-seed (\d+)", found.group(1))
                name = re.sub(r" --ransac-seed \d+", "", found.group(1))
                run = (line.split()[0] if " | " in line else None, name, seed and seed.group(1))
                if run not in seen:
                    seen.add(run)
                    runs[name].append(100 * float(found.group(2)))
    return runs


def main(argv: list[str]) -> None:
    only = None
    if "--only" in argv:
        at = argv.index("--only")
        if at + 1 >= len(argv):
            die("--only needs a TEXT")
        only, argv = argv[at + 1], argv[:at] + argv[at + 2:]
    if len(argv) < 2 or not argv[0].endswith(".png"):
        die("usage: plot_vo_draws.py OUT.png RESULTS.txt [RESULTS.txt …] [--only TEXT]")
    runs = read_runs(argv[1:], only)
    if not runs:
        die("no result lines (ate_rmse_rel=…) in " + ", ".join(argv[1:]))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(runs, key=lambda k: np.median(runs[k]))
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.2))
    jitter = np.random.default_rng(0)
    for row, name in enumerate(names):
        ate = np.asarray(runs[name])
        ax.scatter(ate, row + jitter.uniform(-0.15, 0.15, len(ate)), s=14, alpha=0.7)
        ax.plot([np.median(ate)] * 2, [row - 0.3, row + 0.3], color="black", lw=2)
    ax.set_yticks(range(len(names)), [f"{n} ({len(runs[n])})" for n in names], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("ATE, % of the path (one dot a draw; bar: median)")
    fig.tight_layout()
    tmp = Path(argv[0]).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])
