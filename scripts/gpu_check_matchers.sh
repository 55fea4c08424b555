#!/usr/bin/env bash
# GPU check of the matcher work (issue 15), in one go on a CUDA machine; results under $OUT (default runs/gpu_matchers).
#   bash scripts/gpu_check_matchers.sh            (about 5 minutes on an H200 after the environment exists)
# 1. the LightGlue / matcher tests with CUDA present (Matcher's device "auto" is cuda there: flash + mixed precision);
# 2. bench match --matcher lightglue on cuda: mutual NN beside LightGlue, batched (one B×N call when kornia allows:
#    N ≤ 1024 on CUDA) and per pair, at N = 1024 and 2048;
# 3. eval pairs on a rendered sequence: slamfeat-base with mutual NN and with aliked's LightGlue, aliked-n16 with its
#    LightGlue (the issue's target: student + teacher's LightGlue ≥ 0.97 × teacher + LightGlue).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/gpu_matchers}"
mkdir -p "$OUT"
[ -x .venv/bin/slamfeat ] || bash scripts/setup.sh > "$OUT/setup.log" 2>&1
SF=.venv/bin/slamfeat
nvidia-smi --query-gpu=name,memory.total --format=csv > "$OUT/gpu.txt" 2>&1 || true
.venv/bin/python -c "import torch; print('cuda', torch.cuda.is_available(), torch.version.cuda)" >> "$OUT/gpu.txt"

.venv/bin/python -m pytest tests/matching/test_lightglue.py tests/matching/test_matcher.py tests/matching/test_bench.py \
    -q -rs > "$OUT/tests.log" 2>&1 || echo "TESTS FAILED (see tests.log)" >> "$OUT/gpu.txt"

for n in 1024 2048; do
    $SF bench match --device cuda --matcher lightglue --n $n --batch 16 --repeats 3 \
        --json "$OUT/bench_match_lightglue_n$n.json" > "$OUT/bench_match_lightglue_n$n.txt" 2>&1 || true
done

REC=/tmp/slamfeat_gpu_rec
[ -f "$REC/airsim_rec.txt" ] || $SF synth airsim --out "$REC" --frames 60 --size 640x480 --pairs-out "$REC/pairs.txt" > /dev/null 2>&1
for matcher in nn lightglue; do
    $SF eval pairs --pairs "$REC/pairs.txt" --images "$REC/images" --model slamfeat-base --model aliked-n16 \
        --max-keypoints 1024 --device cuda --matcher $matcher --json "$OUT/eval_pairs_$matcher.json" \
        > "$OUT/eval_pairs_$matcher.txt" 2>&1 || true
done
cat "$OUT"/*.txt
