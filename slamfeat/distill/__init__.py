"""Knowledge distillation: train a small student detector-descriptor from a pretrained teacher on
unlabelled images (pairs made by random homographies and photometric changes)."""

from .losses import (absolute_teacher, desdis, detector_cross_entropy, detector_kl, detector_l2,
                     relative_teacher)
from .train import DistillConfig, distill, parse_losses

__all__ = ["DistillConfig", "distill", "parse_losses", "absolute_teacher", "relative_teacher", "desdis",
           "detector_cross_entropy", "detector_kl", "detector_l2"]
