#!/usr/bin/env bash
# GPU checks of issue 18 (fused matcher, batched extraction), in one go, on a CUDA machine.
#
#   OUT=/some/folder bash scripts/gpu_check_scale.sh
#
# Runs, each step on its own (a failing step does not stop the next) and under its own timeout:
#   1. the CUDA tests of the fused matcher, the matching benchmark and batched extraction;
#   2. slamfeat bench match --device cuda        -> $OUT/bench_match_cuda.json
#   3. slamfeat bench extract --device cuda --batch 16 --model slamfeat-lite [--model xfeat]
#                                                -> $OUT/bench_extract_cuda.json
# Everything it prints goes to $OUT/gpu_check_scale.log; $OUT/summary.txt has one line a step.
# Total under 4 minutes (the timeouts add up to 220 s; the steps usually take far less).
# (The torchrun sharding is tested on CPU processes by the ordinary suite: tests/test_distributed.py.)
set -u

OUT=${OUT:-$(pwd)/gpu_check_out}
mkdir -p "$OUT"
LOG="$OUT/gpu_check_scale.log"
SUMMARY="$OUT/summary.txt"
: > "$LOG"
: > "$SUMMARY"
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"

step() {  # step NAME SECONDS COMMAND… : run, log, and record the exit status
    local name=$1 limit=$2
    shift 2
    echo "=== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*" >> "$LOG"
    local t0=$SECONDS
    timeout --kill-after=5 "$limit" "$@" >> "$LOG" 2>&1
    local rc=$?
    echo "=== $name: exit $rc after $((SECONDS - t0)) s" >> "$LOG"
    echo "$name rc=$rc seconds=$((SECONDS - t0))" >> "$SUMMARY"
    return 0
}

step environment 20 "$PY" -c "
import torch, sys
print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)
print('devices', [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
try:
    import triton; print('triton', triton.__version__)
except Exception as e:
    print('triton absent:', e)
from slamfeat.matching.fused import triton_available
print('fused kernel available:', triton_available())
"

step cuda_tests 90 "$PY" -m pytest -q -rs \
    tests/matching/test_fused.py tests/bench/test_match.py \
    "tests/matching/test_nearest_neighbour.py::test_cuda_half_gives_the_float32_result" \
    "tests/matching/test_batched.py::test_padding_onto_the_gpu_is_staged_and_equal" \
    "tests/test_extract.py::test_cuda_batches_give_the_features_of_one_image_at_a_time"

step bench_match 60 "$PY" -m slamfeat bench match --device cuda --json "$OUT/bench_match_cuda.json"

MODELS=(--model slamfeat-lite)
if timeout 30 "$PY" -c "from slamfeat.features import load_extractor; load_extractor('xfeat')" >> "$LOG" 2>&1; then
    MODELS+=(--model xfeat)
else
    echo "xfeat does not load here (not installed, or no weights): benchmarking slamfeat-lite alone" >> "$LOG"
fi
step bench_extract 50 "$PY" -m slamfeat bench extract --device cuda --batch 16 "${MODELS[@]}" \
    --json "$OUT/bench_extract_cuda.json"

cat "$SUMMARY"
exit 0
