"""Extraction speed: milliseconds per image of several extractors, measured side by side.

Every model sees the same real photograph at the same resolution; the rounds are interleaved
(one image per model per round) so that a change in machine load touches every model alike, and
the median round counts. A student also runs through ONNX Runtime when it is installed. With a
batch, each run is one network call on that many images (the GPU's way of reaching its rate).
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from ..errors import BadInput
from ..export import export_student, onnx_session
from ..extract import extract_batch
from ..features import load_extractor, resolve_device
from ..features.student import SlamfeatStudent
from ..io import image_to_tensor

DEFAULT_MODELS = ("slamfeat-lite", "slamfeat-base", "xfeat", "aliked-t16", "aliked-n16", "disk", "sift", "orb")


def bench_image(resolution: tuple[int, int]) -> torch.Tensor:
    """scikit-image's astronaut resized to ``resolution`` = (H, W), as a ``1×3×H×W`` float tensor."""
    import skimage.data

    h, w = resolution
    return image_to_tensor(cv2.resize(skimage.data.astronaut(), (w, h), interpolation=cv2.INTER_AREA))


def _onnx_runner(student: SlamfeatStudent, image: torch.Tensor, threads: int, folder: Path):
    path = export_student(student, "onnx", folder / "student.onnx", tuple(image.shape[-2:]))
    session = onnx_session(path, threads)
    x, _ = student.preprocess(image)
    feed = {"image": x.cpu().numpy()}
    return lambda: session.run(None, feed)


def bench_extract(models: Sequence[str] = DEFAULT_MODELS, resolution: tuple[int, int] = (480, 640),
                  runs: int = 5, device: str = "auto", threads: int | None = None,
                  max_keypoints: int = 2048, onnx: bool = True, progress=None, batch: int = 1) -> dict[str, Any]:
    """Time each model's extraction; returns the ``bench extract`` report (see the contract).

    With ``batch`` > 1 each run extracts a batch of that many copies of the photograph in one
    network call (as ``slamfeat extract --batch`` does); ``ms_per_image`` is the run's time
    divided by the batch, ``images_per_s`` its inverse. ONNX Runtime is timed at batch 1 only.

    Raises:
        BadInput: an unknown model, missing weights, or a batch below 1.
    """
    if batch < 1:
        raise BadInput(f"batch {batch}: expected ≥ 1")
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    image = bench_image(resolution).to(dev)
    images = image.expand(batch, -1, -1, -1).contiguous()
    runners: dict[str, Any] = {}
    params: dict[str, int] = {}
    tmp = tempfile.TemporaryDirectory(prefix="slamfeat-bench-")
    try:
        for name in models:
            model = load_extractor(name, device=dev, max_keypoints=max_keypoints)
            runners[name] = (lambda m=model: m.extract(image)) if batch == 1 else \
                (lambda m=model: extract_batch(m, images))
            params[name] = model.num_parameters()
            # an ONNX graph runs one scale: a student at several has no ONNX row
            if onnx and batch == 1 and isinstance(model, SlamfeatStudent) and model.one_pass \
                    and dev.type == "cpu" and importlib.util.find_spec("onnxruntime") is not None:
                key = f"{name}-onnxruntime"
                runners[key] = _onnx_runner(model, image.cpu(), torch.get_num_threads(), Path(tmp.name))
                params[key] = params[name]
        times: dict[str, list[float]] = {k: [] for k in runners}
        for run in runners.values():  # warm-up
            run()
        rounds = range(max(int(runs), 1))
        for _ in (progress(rounds, desc="bench extract") if progress else rounds):
            for key, run in runners.items():
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                run()
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                times[key].append((time.perf_counter() - t) * 1000)
    finally:
        tmp.cleanup()
    results = {k: {"ms_per_image": float(np.median(v)) / batch, "ms_min": float(np.min(v)) / batch,
                   "images_per_s": 1000.0 * batch / float(np.median(v)), "params": params[k]}
               for k, v in times.items()}
    return {"device": str(dev), "threads": torch.get_num_threads(), "batch": batch,
            "resolution": [int(resolution[0]), int(resolution[1])],
            "runs": len(next(iter(times.values()))) if times else 0, "max_keypoints": max_keypoints, "results": results}
