"""The distilled students: ``slamfeat-lite`` (built for CPUs) and ``slamfeat-base`` (a teacher's size).

One network shape serves both, with different widths:

* a stride-4 stem (two strided 3×3 convolutions) brings the image to ¼ resolution early, where the
  work is cheap; blocks at ¼ and ⅛ (depthwise-separable for the lite model) add context, and the
  ⅛ map is added back onto the ¼ map;
* the detector head predicts ``cell²`` logits per ¼-resolution position, one per pixel of the
  cell, so keypoints are found at full resolution;
* the descriptor head gives a ``B×D×H/4×W/4`` map that is sampled bilinearly at the keypoints.

Extraction never builds the full-resolution map. The ``CELL²`` logits of each ¼-resolution cell
are a cell's pixels; decoding (:func:`decode`) runs on the whole batch at once, at ¼ resolution:
each cell's strongest pixel is its candidate, a candidate is dropped when a neighbouring cell's
candidate is stronger and within ``nms_radius`` pixels (the full-resolution non-maximum
suppression, on 1/16 of the values), the ``max_keypoints`` best of each image are kept by one
batched top-k, refined to sub-pixel positions by a soft-argmax over their 3×3 full-resolution
neighbourhood (read straight from the cell logits), and described by one batched bilinear sample.
At inference the batch norms are folded into the convolutions and the network runs channels-last
(2.3× faster convolutions on a CPU); on CUDA it also runs in float16, and the whole extraction of a batch shape is replayed from a CUDA graph.
With ``scales`` (e.g. ``[1, 0.6]``) the image is also resized by each factor and extracted again;
the keypoints of every scale, mapped back to the image's pixels, are merged by score
(:func:`merge_scales`), so a view zoomed in by up to about 1/factor still meets keypoints of the
same size: a student only ever saw a limited range of scale in training.
Training sees the pixel-shuffled full-resolution logits (:meth:`StudentNet.forward`), so the
distillation losses and every earlier checkpoint are unchanged.

A student checkpoint (``*.pt``, written by ``slamfeat distill``) is read by :func:`load_student`;
its format is :mod:`slamfeat.io.checkpoint`.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInput
from ..io.checkpoint import read_checkpoint
from .base import Extractor, Features
from .ops import sample_descriptor_map
from .teacher_space import TeacherSpaceMixin, read_teacher_space
from .weights import PACKAGE_WEIGHTS

GRAPH_CACHE = 4  # CUDA graphs kept per student (one per batch shape)
CELL = 4  # the detector head predicts one value per pixel of each 4×4 cell of the ¼ map

# Architecture presets. ``channels`` = widths at ½, ¼ and ⅛ resolution; ``blocks`` = blocks at ¼ and ⅛.
ARCHS: dict[str, dict[str, Any]] = {
    "slamfeat-lite": {"channels": [24, 48, 96], "blocks": [1, 3], "descriptor_dim": 64,
                      "separable": True, "input_channels": 1},
    "slamfeat-base": {"channels": [32, 64, 128], "blocks": [2, 3], "descriptor_dim": 128,
                      "separable": False, "input_channels": 1},
}


def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Convolution (no bias), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Block(nn.Module):
    """A residual block: depthwise 3×3 + pointwise 1×1 (``separable``) or a plain 3×3 convolution."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, separable: bool = True) -> None:
        super().__init__()
        if separable:
            self.body = nn.Sequential(conv_bn(c_in, c_in, 3, stride, groups=c_in), conv_bn(c_in, c_out, 1))
        else:
            self.body = conv_bn(c_in, c_out, 3, stride)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class StudentNet(nn.Module):
    """The student network: image ``B×C×H×W`` (H, W multiples of 8) → detection logits
    ``B×1×H×W`` and raw descriptors ``B×D×H/4×W/4``."""

    def __init__(self, channels=(16, 32, 64), blocks=(1, 2), descriptor_dim: int = 64,
                 separable: bool = True, input_channels: int = 1) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.stem = nn.Sequential(conv_bn(input_channels, c1, 3, 2), conv_bn(c1, c2, 3, 2))
        self.stage4 = nn.Sequential(*[Block(c2, c2, 1, separable) for _ in range(blocks[0])])
        self.stage8 = nn.Sequential(Block(c2, c3, 2, separable),
                                    *[Block(c3, c3, 1, separable) for _ in range(blocks[1])])
        self.lateral = nn.Conv2d(c3, c2, 1)
        self.detector = nn.Sequential(Block(c2, c2, 1, separable), nn.Conv2d(c2, CELL * CELL, 1))
        self.descriptor = nn.Sequential(Block(c2, c2, 1, separable), nn.Conv2d(c2, descriptor_dim, 1))

    def cells(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``B×C×H×W`` → detection logits per cell ``B×CELL²×H/4×W/4`` and raw descriptors
        ``B×D×H/4×W/4``: what extraction decodes, without building a full-resolution map."""
        x4 = self.stage4(self.stem(images))
        x8 = self.stage8(x4)
        x4 = x4 + F.interpolate(self.lateral(x8), size=x4.shape[-2:], mode="bilinear", align_corners=False)
        return self.detector(x4), self.descriptor(x4)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Full-resolution logits ``B×1×H×W`` (the pixel shuffle of :meth:`cells`) and descriptors."""
        cells, desc = self.cells(images)
        return F.pixel_shuffle(cells, CELL), desc


def refine_subpixel(logits: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    """Soft-argmax refinement of integer keypoints over their 3×3 neighbourhood of one full-resolution
    ``H×W`` logit map (``keypoints`` ``N×2`` integer pixel (x, y)); each moves by less than one pixel."""
    return _refine(logits[None, None], keypoints[None].long(), 1, (logits.shape[1], logits.shape[0]))[0]


def _full_res_logits(cells: torch.Tensor, x: torch.Tensor, y: torch.Tensor, cell: int) -> torch.Tensor:
    """Full-resolution logits at integer pixels ``x``, ``y`` (``B×K``) read straight from the
    ``B×cell²×h×w`` map, whose pixel shuffle would be the full-resolution map (never built)."""
    b, c, h, w = cells.shape
    idx = ((y % cell) * cell + x % cell) * (h * w) + torch.div(y, cell, rounding_mode="floor") * w \
        + torch.div(x, cell, rounding_mode="floor")
    return torch.gather(cells.reshape(b, -1), 1, idx)


def _refine(cells: torch.Tensor, kp: torch.Tensor, cell: int, size: tuple[int, int]) -> torch.Tensor:
    """Soft-argmax over the 3×3 full-resolution neighbourhood (replicated at the image border) of
    ``B×K×2`` integer keypoints; returns ``B×K×2`` float keypoints."""
    w, h = size
    x, y = kp[..., 0], kp[..., 1]
    values = []
    for dy in (-1, 0, 1):  # row-major 3×3 window
        for dx in (-1, 0, 1):
            values.append(_full_res_logits(cells, (x + dx).clamp(0, w - 1), (y + dy).clamp(0, h - 1), cell))
    p = torch.stack(values, dim=-1).float()  # B×K×9
    weights = torch.softmax(p - p.amax(dim=-1, keepdim=True), dim=-1)
    window = weights.unflatten(-1, (3, 3))  # B×K×3 rows (dy) × 3 columns (dx)
    step = torch.arange(-1, 2, device=cells.device, dtype=torch.float32)  # built on the device: graph-safe
    dx = (window.sum(dim=-2) * step).sum(dim=-1)
    dy = (window.sum(dim=-1) * step).sum(dim=-1)
    return kp.float() + torch.stack([dx, dy], dim=-1)


def cell_peaks(cells: torch.Tensor, size: tuple[int, int], nms_radius: int, border: int,
               cell: int = CELL) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Candidate keypoints of a batch at cell resolution: one per cell, its strongest pixel.

    A cell's candidate is suppressed when a neighbouring cell's candidate is stronger and lies
    within ``nms_radius`` pixels (Chebyshev distance): the non-maximum suppression of a
    full-resolution map, but computed on ``H/cell × W/cell`` values only.

    Args:
        cells: ``B×cell²×h×w`` detection logits (pixel ``(i, j)`` of a cell is channel ``i·cell + j``).
        size: ``(W, H)`` of the valid image (the map may be padded beyond it).
    Returns:
        ``B×h·w`` logits (``-inf`` where suppressed or outside the border), and ``B×h·w`` integer
        pixel x and y of each cell's candidate.
    """
    b, _, h, w = cells.shape
    best, arg = cells.max(dim=1)  # B×h×w
    gy, gx = torch.meshgrid(torch.arange(h, device=cells.device), torch.arange(w, device=cells.device), indexing="ij")
    x = gx * cell + arg % cell
    y = gy * cell + torch.div(arg, cell, rounding_mode="floor")
    W, H = size
    keep = (x >= border) & (x < W - border) & (y >= border) & (y < H - border)
    reach = (max(int(nms_radius), 0) + cell - 1) // cell  # neighbour cells that can hold a close peak
    if nms_radius > 0 and reach > 0:
        pad = (reach, reach, reach, reach)
        pb = F.pad(best, pad, value=float("-inf"))
        px = F.pad(x, pad, value=-(10 ** 6))
        py = F.pad(y, pad, value=-(10 ** 6))
        for oy in range(-reach, reach + 1):
            for ox in range(-reach, reach + 1):
                if ox == 0 and oy == 0:
                    continue
                nb = pb[:, reach + oy:reach + oy + h, reach + ox:reach + ox + w]
                nx = px[:, reach + oy:reach + oy + h, reach + ox:reach + ox + w]
                ny = py[:, reach + oy:reach + oy + h, reach + ox:reach + ox + w]
                # the stronger one wins; on a tie the earlier cell in raster order does
                stronger = nb >= best if (oy, ox) < (0, 0) else nb > best
                close = ((nx - x).abs() <= nms_radius) & ((ny - y).abs() <= nms_radius)
                keep = keep & ~(stronger & close)
    best = torch.where(keep, best, torch.full_like(best, float("-inf")))
    return best.reshape(b, -1), x.reshape(b, -1), y.reshape(b, -1)


def decode(cells: torch.Tensor, descriptors: torch.Tensor, size: tuple[int, int], nms_radius: int,
           threshold: float, max_keypoints: int | None, border: int, subpixel: bool, cell: int = CELL
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keypoints, scores and descriptors of a whole batch at once (no loop over images).

    Args:
        cells: ``B×cell²×h×w`` detection logits; descriptors: ``B×D×h×w`` raw descriptor map.
        size: ``(W, H)`` of the valid image; max_keypoints: at most this many per image (None or
            ≤ 0: every candidate above ``threshold``).
    Returns:
        ``B×K×2`` pixel (x, y) keypoints, ``B×K`` scores ``sigmoid(logit)`` (highest first), ``B×K×D``
        unit descriptors and a ``B×K`` bool mask of the keypoints above ``threshold`` (a prefix).
    """
    logits, x, y = cell_peaks(cells, size, nms_radius, border, cell)
    k = logits.shape[1] if not max_keypoints or max_keypoints <= 0 else min(int(max_keypoints), logits.shape[1])
    top, idx = torch.topk(logits, k, dim=1)
    scores = torch.sigmoid(top.float())
    valid = scores > threshold  # -inf (suppressed) gives 0, never above a threshold ≥ 0
    kp = torch.stack([torch.gather(x, 1, idx), torch.gather(y, 1, idx)], dim=-1)
    kp = _refine(cells, kp, cell, size) if subpixel else kp.float()
    return kp, scores, sample_descriptor_map(kp, descriptors, cell), valid


MAX_SCALES = 4


def check_scales(scales: Any) -> list[float]:
    """The image scales a student extracts at, as a list of floats; :class:`BadInput` unless they are
    1 to ``MAX_SCALES`` distinct factors in [0.1, 2]."""
    if isinstance(scales, str):  # "1,0.6", as on the command line
        scales = scales.split(",")
    try:
        values = [float(s) for s in scales]
    except (TypeError, ValueError):
        raise BadInput(f"scales {scales!r}: expected factors such as 1,0.6", option="scales") from None
    if not 1 <= len(values) <= MAX_SCALES or len(set(values)) != len(values) or not all(0.1 <= s <= 2 for s in values):
        raise BadInput(f"scales {','.join(f'{s:g}' for s in values) or '(none)'}: expected 1 to {MAX_SCALES} distinct "
                       "factors in [0.1, 2] (1 = the image as given)", option="scales")
    return values


def merge_scales(found: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], max_keypoints: int | None,
                 size: tuple[int, int]) -> Features:
    """One image's keypoints of several scales (each ``(K×2 keypoints, K scores, K×D descriptors)``,
    keypoints in the image's pixels) as one set: the best-scored ``max_keypoints`` of them all."""
    kp, scores, d = (torch.cat(parts) for parts in zip(*found))
    order = torch.argsort(scores, descending=True, stable=True)
    if max_keypoints and max_keypoints > 0:
        order = order[:int(max_keypoints)]
    return Features(kp[order], scores[order], d[order], size)


def fuse_for_inference(net: nn.Module) -> nn.Module:
    """A copy of ``net`` with every convolution + batch norm pair folded into one convolution
    (identical outputs in eval mode, one pass over memory fewer per layer)."""
    fused = copy.deepcopy(net).eval()
    for module in fused.modules():
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                conv, bn = module[i], module[i + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    module[i] = torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn)
                    module[i + 1] = nn.Identity()
    for p in fused.parameters():
        p.requires_grad_(False)
    return fused


class SlamfeatStudent(TeacherSpaceMixin, Extractor):
    """A distilled detector-descriptor (see the module docstring)."""

    kind = "student"
    # 0.01: what the shipped students use, so that ``max_keypoints=2048`` gives 2,048 keypoints on a
    # textured 480×640 photograph. Distillation matches the teacher's per-cell distributions, not its
    # score scale, so the teacher's own threshold (ALIKED's 0.2) means nothing for a student.
    default_conf = {**Extractor.default_conf, "detection_threshold": 0.01, "nms_radius": 2,
                    "remove_borders": 4, "subpixel": True, "cuda_graphs": True, "scales": [1.0]}

    def __init__(self, arch: str = "slamfeat-lite", arch_conf: dict[str, Any] | None = None, **conf) -> None:
        super().__init__(**conf)
        self.conf["scales"] = check_scales(self.conf["scales"])
        self.arch = arch
        self.arch_conf = {**ARCHS.get(arch, ARCHS["slamfeat-lite"]), **(arch_conf or {})}
        a = self.arch_conf
        self.net = StudentNet(tuple(a["channels"]), tuple(a["blocks"]), int(a["descriptor_dim"]),
                              bool(a["separable"]), int(a["input_channels"]))
        self.eval()

    @classmethod
    def create(cls, weights: str | os.PathLike | None = None, arch: str = "slamfeat-lite",
               **conf: Any) -> "SlamfeatStudent":
        """A shipped student (``arch``'s checkpoint in the package) or the checkpoint ``weights``,
        which must hold an ``arch`` student of the preset's descriptor size."""
        path = Path(weights) if weights is not None else PACKAGE_WEIGHTS / f"{arch}.pt"
        model = load_student(path, **conf)
        dim = int(ARCHS[arch]["descriptor_dim"])
        if model.arch != arch or model.descriptor_dim != dim:
            raise BadInput(f"{path}: holds a {model.arch} student with {model.descriptor_dim}-D descriptors, "
                           f"not {arch} ({dim}-D); load it as a checkpoint path instead", option="weights")
        return model

    @classmethod
    def facts(cls, arch: str = "slamfeat-lite", **options: Any) -> dict[str, Any]:
        return {**super().facts(), "descriptor_dim": int(ARCHS[arch]["descriptor_dim"]), "weights_file": f"{arch}.pt"}

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.arch

    @property
    def one_pass(self) -> bool:
        """Whether the network runs once, on the image as given (``scales`` [1]): what an exported graph holds."""
        return self.conf["scales"] == [1.0]

    @property
    def descriptor_dim(self) -> int:  # type: ignore[override]
        return int(self.arch_conf["descriptor_dim"])

    @property
    def input_channels(self) -> int:  # type: ignore[override]
        return int(self.arch_conf["input_channels"])

    def inference_net(self) -> nn.Module:
        """The network with batch norm folded into the convolutions, rebuilt whenever a weight has
        changed since (an optimiser step or ``load_state_dict`` bumps the tensors' versions)."""
        key = (tuple(p._version for p in self.net.parameters()), tuple(b._version for b in self.net.buffers()),
               self.device)
        cached = self.__dict__.get("_fused")
        if cached is None or cached[0] != key:
            # channels-last: 2.3× faster convolutions on this CPU (oneDNN) and the GPU's layout too
            fused = fuse_for_inference(self.net).to(memory_format=torch.channels_last)
            self.__dict__["_fused"] = (key, fused)  # a cache, not a submodule
        return self.__dict__["_fused"][1]

    def _detect_and_describe(self, net: nn.Module, images: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Network and decoding of a batch: ``B×K×2`` keypoints, ``B×K`` scores, ``B×K×D``
        descriptors, ``B×K`` valid mask (no host synchronisation, so a CUDA graph can hold it)."""
        h, w = images.shape[-2:]
        ph, pw = (-h) % 8, (-w) % 8
        x = F.pad(images, (0, pw, 0, ph), mode="replicate") if ph or pw else images
        if not self.training:
            x = x.contiguous(memory_format=torch.channels_last)
        if x.is_cuda:  # half-precision convolutions in channels-last layout: the GPU's fast path
            with torch.autocast("cuda", dtype=torch.float16):
                cells, desc = net.cells(x)
            cells, desc = cells.float(), desc.float()
        else:
            cells, desc = net.cells(x)
        c = self.conf
        return decode(cells, desc, (int(w), int(h)), int(c["nms_radius"]), float(c["detection_threshold"]),
                      c["max_keypoints"], int(c["remove_borders"]), bool(c["subpixel"]))

    def _graphed(self, net: nn.Module, images: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """The same outputs replayed from a CUDA graph of this batch shape: the GPU then runs the
        whole extraction as one launch instead of hundreds of small kernels. A shape is captured
        the second time it is seen (a folder of differently sized images never pays for capture);
        None where graphs are off or capture failed (the caller runs eagerly)."""
        if not self.conf["cuda_graphs"] or not images.is_cuda or self.__dict__.get("_graphs_failed"):
            return None
        key = (tuple(images.shape), id(net))
        seen = self.__dict__.setdefault("_shapes_seen", set())
        graphs = self.__dict__.setdefault("_graphs", {})
        if key not in graphs:
            if key not in seen:
                seen.add(key)
                return None
            if len(graphs) >= GRAPH_CACHE:
                graphs.pop(next(iter(graphs)))
            try:
                static_in = images.clone()
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(2):  # warm-up outside the graph (cuDNN picks its algorithms)
                        self._detect_and_describe(net, static_in)
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    static_out = self._detect_and_describe(net, static_in)
                graphs[key] = (graph, static_in, static_out)
            except RuntimeError:
                # this build or device cannot capture: stay eager (the option, which a features
                # file records, is left as the user set it)
                self.__dict__["_graphs_failed"] = True
                return None
        graph, static_in, static_out = graphs[key]
        static_in.copy_(images)
        graph.replay()
        return tuple(t.clone() for t in static_out)  # type: ignore[return-value]

    def _extract(self, images: torch.Tensor) -> list[Features]:
        h, w = images.shape[-2:]
        net = self.net if self.training else self.inference_net()
        scales = self.conf["scales"] if not self.training else [1.0]
        found = []
        for s in scales:
            x = images
            if s != 1.0:
                size = (max(int(round(h * s)), 8), max(int(round(w * s)), 8))
                x = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=s < 1)
            out = None if self.training or torch.is_grad_enabled() else self._graphed(net, x)
            kp, scores, d, valid = out if out is not None else self._detect_and_describe(net, x)
            if s != 1.0:  # pixel centres: x + 0.5 = (x_s + 0.5) · W / W_s
                kp = (kp + 0.5) * kp.new_tensor([w / x.shape[-1], h / x.shape[-2]]) - 0.5
            found.append((kp, scores, d, valid))
        if len(found) == 1:
            kp, scores, d, valid = found[0]
            counts = valid.sum(dim=1).tolist()  # the valid keypoints of each image are a prefix
            return [Features(kp[i, :n], scores[i, :n], d[i, :n], (int(w), int(h))) for i, n in enumerate(counts)]
        return [merge_scales([(kp[i][v[i]], sc[i][v[i]], d[i][v[i]]) for kp, sc, d, v in found],
                             self.conf["max_keypoints"], (int(w), int(h))) for i in range(len(images))]


def build_student(arch: str, descriptor_dim: int | None = None, **conf) -> SlamfeatStudent:
    """A freshly initialised student of a preset architecture (``slamfeat-lite`` or ``slamfeat-base``)."""
    if arch not in ARCHS:
        raise BadInput(f"unknown student architecture {arch!r}; known: {', '.join(ARCHS)}")
    if descriptor_dim is not None and not 8 <= int(descriptor_dim) <= 1024:
        raise BadInput(f"descriptor size {descriptor_dim}: must be between 8 and 1024", option="descriptor_dim")
    arch_conf = {} if descriptor_dim is None else {"descriptor_dim": int(descriptor_dim)}
    return SlamfeatStudent(arch, arch_conf, **conf)


def load_student(path: str | os.PathLike, **conf: Any) -> SlamfeatStudent:
    """A student extractor from a checkpoint written by ``slamfeat distill`` (or shipped in the package).

    Raises:
        BadInput: missing, corrupt or foreign file, or weights that do not fit the architecture.
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    if ckpt["arch"] not in ARCHS:
        raise BadInput(f"{path}: unknown student architecture {ckpt['arch']!r}")
    try:
        saved = {k: v for k, v in (ckpt.get("conf") or {}).items() if k in SlamfeatStudent.default_conf}
        model = SlamfeatStudent(ckpt["arch"], ckpt["arch_conf"], **{**saved, **conf})
    except (TypeError, ValueError, KeyError) as e:
        if isinstance(e, BadInput):
            raise
        raise BadInput(f"{path}: architecture settings do not build a student ({e})") from None
    own = model.net.state_dict()
    sd = ckpt["state_dict"]
    if set(own) != set(sd) or any(own[k].shape != sd[k].shape for k in own):
        raise BadInput(f"{path}: weights do not fit architecture {ckpt['arch']}")
    model.net.load_state_dict(sd)
    model.weights_path = path
    model.set_teacher_space(read_teacher_space(ckpt, model.descriptor_dim, path))  # see teacher_space.py
    return model.eval()
