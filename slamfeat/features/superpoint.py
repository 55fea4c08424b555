"""SuperPoint (DeTone et al., CVPRW 2018), the original architecture written here.

The state-dict keys (``conv1a`` … ``convDb``) match the weights file that Magic Leap released, so a
user's ``superpoint_v1.pth`` loads as it is. slamfeat ships no SuperPoint weights: the model needs
``--weights FILE``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInput
from .base import Extractor, Features, TeacherOutputs
from .ops import sample_descriptors, simple_nms
from .weights import find_weights, load_into, read_state_dict


class SuperPointNet(nn.Module):
    """The SuperPoint network: shared VGG encoder, detector head (65 channels), descriptor head."""

    def __init__(self, descriptor_dim: int = 256) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = 64, 64, 128, 128, 256
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv1a = nn.Conv2d(1, c1, 3, 1, 1)
        self.conv1b = nn.Conv2d(c1, c1, 3, 1, 1)
        self.conv2a = nn.Conv2d(c1, c2, 3, 1, 1)
        self.conv2b = nn.Conv2d(c2, c2, 3, 1, 1)
        self.conv3a = nn.Conv2d(c2, c3, 3, 1, 1)
        self.conv3b = nn.Conv2d(c3, c3, 3, 1, 1)
        self.conv4a = nn.Conv2d(c3, c4, 3, 1, 1)
        self.conv4b = nn.Conv2d(c4, c4, 3, 1, 1)
        self.convPa = nn.Conv2d(c4, c5, 3, 1, 1)
        self.convPb = nn.Conv2d(c5, 65, 1, 1, 0)
        self.convDa = nn.Conv2d(c4, c5, 3, 1, 1)
        self.convDb = nn.Conv2d(c5, descriptor_dim, 1, 1, 0)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``B×1×H×W`` → cell logits ``B×65×H/8×W/8`` and raw descriptors ``B×D×H/8×W/8``."""
        x = self.relu(self.conv1a(image))
        x = self.pool(self.relu(self.conv1b(x)))
        x = self.relu(self.conv2a(x))
        x = self.pool(self.relu(self.conv2b(x)))
        x = self.relu(self.conv3a(x))
        x = self.pool(self.relu(self.conv3b(x)))
        x = self.relu(self.conv4a(x))
        x = self.relu(self.conv4b(x))
        logits = self.convPb(self.relu(self.convPa(x)))
        desc = self.convDb(self.relu(self.convDa(x)))
        return logits, desc


def cells_to_heatmap(logits: torch.Tensor) -> torch.Tensor:
    """``B×65×Hc×Wc`` cell logits → ``B×(8Hc)×(8Wc)`` keypoint probabilities (dustbin dropped)."""
    prob = torch.softmax(logits, dim=1)[:, :-1]
    return F.pixel_shuffle(prob, 8)[:, 0]


class SuperPoint(Extractor):
    name = "superpoint"
    kind = "teacher"
    descriptor_dim = 256
    input_channels = 1
    score_threshold = 0.005
    default_conf = {**Extractor.default_conf, "detection_threshold": score_threshold, "nms_radius": 4,
                    "remove_borders": 4}

    @classmethod
    def create(cls, weights: str | None = None, **conf) -> "SuperPoint":
        """SuperPoint with the user's weights file (slamfeat ships none)."""
        if weights is None:
            raise BadInput("superpoint needs a weights file (the released superpoint_v1.pth or a compatible one)", option="weights")
        return cls(weights=weights, **conf)

    @classmethod
    def untrained(cls, **options) -> nn.Module:
        return SuperPointNet()

    def __init__(self, weights: str | None = None, **conf) -> None:
        super().__init__(**conf)
        self.net = SuperPointNet(self.descriptor_dim)
        if weights is not None:
            path = find_weights(None, weights)
            load_into(self.net, read_state_dict(path), path, self.name)
            self.weights_path = path
        self.eval()

    def teacher_outputs(self, images: torch.Tensor) -> TeacherOutputs:
        """Each pixel's cell logit minus its cell's dustbin logit (so ``sigmoid`` is the pixel's
        probability against "no keypoint"), and the ``B×256×H/8×W/8`` descriptor map."""
        cells, descriptors = self.net(images)
        return TeacherOutputs(F.pixel_shuffle(cells[:, :-1] - cells[:, -1:], 8), descriptors, 8)

    def _extract(self, images: torch.Tensor) -> list[Features]:
        h, w = images.shape[-2:]
        ph, pw = (-h) % 8, (-w) % 8
        logits, desc = self.net(F.pad(images, (0, pw, 0, ph), mode="replicate"))
        heat = cells_to_heatmap(logits)[:, :h, :w]
        heat = simple_nms(heat, int(self.conf["nms_radius"]))
        b = int(self.conf["remove_borders"])
        if b > 0:
            border = torch.zeros_like(heat, dtype=torch.bool)
            border[:, b:h - b, b:w - b] = True
            heat = heat * border
        out = []
        for i in range(images.shape[0]):
            ys, xs = torch.nonzero(heat[i] > float(self.conf["detection_threshold"]), as_tuple=True)
            scores = heat[i, ys, xs]
            order = torch.argsort(scores, descending=True)
            k = int(self.conf["max_keypoints"])
            if k > 0:
                order = order[:k]
            kp = torch.stack([xs[order], ys[order]], dim=-1).float()
            d = sample_descriptors(kp, desc[i], 8) if len(order) else desc.new_zeros(0, self.descriptor_dim)
            out.append(Features(kp, scores[order], d, (w, h)))
        return out
