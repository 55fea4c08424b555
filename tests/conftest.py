"""Shared test set-up. Each area of the package contributes its fixtures in ``tests/fixtures/<area>.py``;
they are collected here so any test can use them."""

import importlib
import os
import sys
from pathlib import Path

import torch

torch.set_num_threads(int(os.environ.get("SLAMFEAT_TEST_THREADS", "2")))
os.environ.setdefault("MPLBACKEND", "Agg")

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
for _p in sorted((_HERE / "fixtures").glob("*.py")):
    if _p.stem.startswith("_"):
        continue
    _mod = importlib.import_module(f"fixtures.{_p.stem}")
    globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("_")})
