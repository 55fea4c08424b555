#!/usr/bin/env bash
# GPU check of the re-layout (issue 17): the nearest-neighbour matcher, split into similarity.py,
# passes.py and nearest_neighbour.py, must give on CUDA (float16 products re-checked in float32)
# exactly what it gave before; the matching tests hold the CUDA cases that skip on a CPU machine.
# Usage: bash scripts/gpu_check_relayout.sh   (results under $OUT, default ./gpu_check_relayout)
set -euo pipefail
OUT=${OUT:-gpu_check_relayout}
mkdir -p "$OUT"
PY=${PY:-python}
PYTHONPATH=$PWD $PY -m pytest tests/matching tests/bench/test_match.py tests/distill/test_teachers.py -q -rs \
    -p no:cacheprovider 2>&1 | tee "$OUT/pytest.txt"
PYTHONPATH=$PWD $PY -m slamfeat bench match --device cuda --json "$OUT/bench_match.json" 2>&1 | tee "$OUT/bench_match.txt"
