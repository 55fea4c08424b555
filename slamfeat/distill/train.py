"""The distillation loop: a frozen teacher, a student, the chosen losses, checkpoints and resume.

One step: a batch of labelled pairs (a few fresh, the rest from the cache), the student on both
images of each pair, the weighted sum of the chosen losses, one AdamW step. The learning rate is a
function of the step only (linear warm-up, cosine decay), so a resumed run continues exactly.
Under ``torchrun`` each process draws its own pairs and DistributedDataParallel averages the
gradients (gloo on CPU, NCCL on GPU); only rank 0 writes the checkpoint and the log.
"""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInput
from ..features import REGISTRY, resolve_device, teachers
from ..features.ops import sample_descriptors
from ..features.student import SlamfeatStudent, build_student
from ..features.teacher_space import teacher_space_record
from ..io.checkpoint import read_checkpoint, student_checkpoint, write_checkpoint
from ..progress import progress
from . import losses as L
from .data import training_images
from .samples import Sample, SampleCache, label, make_pairs
from .teachers import Teacher, peak_map
from .validate import validate, validation_set

DEFAULT_LOSSES = {"det-kl": 1.0, "absolute": 1.0, "desdis": 1.0}


@dataclass
class DistillConfig:
    """Everything that defines a distillation run (one command-line flag per field)."""

    teacher: str
    student: str
    out: str
    images: list[str] = field(default_factory=list)  # empty = scikit-image photos + synthetic frames
    teacher_weights: str | None = None
    descriptor_dim: int | None = None
    losses: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LOSSES))
    steps: int = 2000
    batch: int = 8
    crop: int = 224
    points: int = 96  # correspondences per pair
    fresh: int = 2  # pairs labelled by the teacher per step (the rest come from the cache)
    cache: int = 1500
    max_rotation: float = 30.0  # degrees, of the random warps
    max_scale: float | None = None  # warps zoom within [1/max_scale, max_scale]; None: 0.75–1.35
    prefetch: bool = True  # make the next step's pairs in a thread during this step
    lr: float = 2e-3
    warmup: int = 100
    temperature: float = 2.0
    margin: float = 1.0
    desdis_regulariser: float = 1.0
    projection: str = "linear"  # linear | none
    checkpoint_every: float = 120.0  # seconds
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    synth_frames: int = 24
    with_renders: bool = False  # add the synthetic frames to the given image folders too
    init: str | None = None  # a student checkpoint whose weights start the run (not its optimiser)
    val_images: list[str] = field(default_factory=list)  # held-out folders, validated at each checkpoint
    val_pairs: int = 32
    log: str | None = None


def parse_losses(text: str | list[str] | None) -> dict[str, float]:
    """``"det-kl=1,absolute=0.5 desdis"`` → ``{"det-kl": 1.0, "absolute": 0.5, "desdis": 1.0}``.

    Raises:
        BadInput: an unknown loss name, a bad weight, or more than one detector loss.
    """
    if not text:
        return dict(DEFAULT_LOSSES)
    items = [t for part in ([text] if isinstance(text, str) else text) for t in part.replace(",", " ").split()]
    out: dict[str, float] = {}
    for item in items:
        name, _, weight = item.partition("=")
        if name not in L.LOSSES:
            raise BadInput(f"loss {item!r}: unknown loss {name!r}; known: {', '.join(L.LOSSES)}")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise BadInput(f"loss {item!r}: weight {weight!r} is not a number", option="losses") from None
        if not math.isfinite(w) or w < 0:
            raise BadInput(f"loss {item!r}: weight must be a finite number ≥ 0", option="losses")
        if w > 0:
            out[name] = w
    if not out:
        raise BadInput("losses: choose at least one loss with a positive weight", option="losses")
    return out


def check_config(cfg: DistillConfig) -> None:
    """Reject settings that cannot train, before anything heavy is loaded."""
    if cfg.teacher not in teachers():
        raise BadInput(f"teacher {cfg.teacher!r}: choose one of {', '.join(teachers())}", option="teacher")
    facts = REGISTRY[cfg.teacher].facts()
    if facts["needs_weights"] and facts["weights_file"] is None and not cfg.teacher_weights:
        raise BadInput(f"teacher {cfg.teacher} needs a weights file (slamfeat ships none)", option="teacher_weights")
    if cfg.crop < 64 or cfg.crop % 32:
        raise BadInput(f"crop {cfg.crop}: must be a multiple of 32, at least 64", option="crop")
    for name, v in (("steps", cfg.steps), ("batch", cfg.batch), ("points", cfg.points)):
        if v < 1:
            raise BadInput(f"{name} {v}: must be at least 1", option=name)
    if not 0 <= cfg.max_rotation <= 180:
        raise BadInput(f"max_rotation {cfg.max_rotation:g}: must be between 0 and 180 degrees", option="max_rotation")
    if cfg.max_scale is not None and not 1 <= cfg.max_scale <= 4:
        raise BadInput(f"max_scale {cfg.max_scale:g}: must be between 1 and 4", option="max_scale")
    if cfg.projection not in ("linear", "none"):
        raise BadInput(f"projection {cfg.projection!r}: choose linear or none", option="projection")
    student = build_student(cfg.student, cfg.descriptor_dim)
    t_dim = int(facts["descriptor_dim"])
    if "absolute" in cfg.losses and cfg.projection == "none" and student.descriptor_dim != t_dim:
        raise BadInput(f"descriptor size {student.descriptor_dim}: student descriptors do not fit loss 'absolute' "
                       f"with teacher {cfg.teacher} ({t_dim}-D) and no projection", option="descriptor_dim")
    if any(k in cfg.losses for k in ("relative", "desdis")) and cfg.points * cfg.batch < 2:
        raise BadInput("relative and desdis losses need at least 2 points per batch")
    if cfg.resume and Path(cfg.out).exists():
        read_checkpoint(cfg.out)  # a corrupt checkpoint fails here, before the teacher loads
    if cfg.init:
        init = read_checkpoint(cfg.init)
        if init["arch"] != student.arch or int(init["arch_conf"].get("descriptor_dim", -1)) != student.descriptor_dim:
            raise BadInput(f"{cfg.init}: a {init['arch']} checkpoint "
                           f"({init['arch_conf'].get('descriptor_dim')}-D) cannot start a {student.arch} "
                           f"({student.descriptor_dim}-D) run")
    check_validation_folders(cfg.images, cfg.val_images)
    if cfg.val_pairs < 1:
        raise BadInput(f"validation pairs {cfg.val_pairs}: must be at least 1", option="val_pairs")


def check_validation_folders(train: list[str], val: list[str]) -> None:
    """Refuse a validation folder that is, holds or lies inside a training folder.

    Raises:
        BadInput: naming the folder that would be both.
    """
    resolved = [Path(t).resolve() for t in train]
    for v in val:
        rv = Path(v).resolve()
        for t, rt in zip(train, resolved):
            if rv == rt or rt in rv.parents or rv in rt.parents:
                raise BadInput(f"{v}: validation folder overlaps training folder {t}; hold out a separate folder")


def learning_rate(step: int, cfg: DistillConfig) -> float:
    """Linear warm-up over ``cfg.warmup`` steps, then cosine decay to 5 % at ``cfg.steps``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(cfg.steps - cfg.warmup, 1)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


class DistillModel(nn.Module):
    """The student network and the loss's learned projection; ``forward`` returns the losses of a
    batch, so DistributedDataParallel sees every parameter that the step trains."""

    def __init__(self, student: SlamfeatStudent, teacher_dim: int, cfg: DistillConfig) -> None:
        super().__init__()
        self.net = student.net
        self.cfg = cfg
        self.to_gray = student.input_channels == 1
        need = "absolute" in cfg.losses and cfg.projection == "linear" and student.descriptor_dim != teacher_dim
        self.projection = nn.Linear(student.descriptor_dim, teacher_dim, bias=False) if need else None

    def forward(self, images: torch.Tensor, teacher_logits: torch.Tensor, samples: list[Sample],
                peak_threshold: float) -> dict[str, torch.Tensor]:
        """Losses of a batch: ``images`` ``2B×3×S×S`` in [0, 1] (the A images, then the B images),
        ``teacher_logits`` ``2B×1×S×S``."""
        cfg, w = self.cfg, self.cfg.losses
        x = (0.299 * images[:, 0:1] + 0.587 * images[:, 1:2] + 0.114 * images[:, 2:3]) if self.to_gray else images
        logits, desc = self.net(x)
        out: dict[str, torch.Tensor] = {}
        if "det-ce" in w:
            out["det-ce"] = L.detector_cross_entropy(logits, peak_map(teacher_logits, peak_threshold))
        if "det-kl" in w:
            out["det-kl"] = L.detector_kl(logits, teacher_logits, temperature=cfg.temperature)
        if "det-l2" in w:
            out["det-l2"] = L.detector_l2(logits, teacher_logits)
        if any(k in w for k in L.DESCRIPTOR_LOSSES):
            out.update(self._descriptor_losses(desc, samples))
        return out

    def _descriptor_losses(self, desc: torch.Tensor, samples: list[Sample]) -> dict[str, torch.Tensor]:
        b = len(samples)
        s_a, s_b, t_a, t_b, owner, pts = [], [], [], [], [], []
        for i, smp in enumerate(samples):
            if len(smp.points_a) == 0:
                continue
            s_a.append(sample_descriptors(smp.points_a.to(desc.device), desc[i], 4))
            s_b.append(sample_descriptors(smp.points_b.to(desc.device), desc[b + i], 4))
            t_a.append(smp.desc_a.float())
            t_b.append(smp.desc_b.float())
            owner.append(torch.full((len(smp.points_a),), i))
            pts.append(smp.points_a)
        zero = desc.sum() * 0.0
        if not s_a or sum(len(s) for s in s_a) < 2:
            return {k: zero for k in L.DESCRIPTOR_LOSSES if k in self.cfg.losses}
        s_a, s_b = torch.cat(s_a), torch.cat(s_b)
        t_a, t_b = torch.cat(t_a).to(desc.device), torch.cat(t_b).to(desc.device)
        owner, pts = torch.cat(owner), torch.cat(pts)
        # points of one image closer than 4 px are the same place, not negatives
        close = (owner[:, None] == owner[None]) & (torch.cdist(pts, pts) < 4.0)
        out = {}
        w = self.cfg.losses
        if "absolute" in w:
            out["absolute"] = L.absolute_teacher(torch.cat([s_a, s_b]), torch.cat([t_a, t_b]), self.projection)
        if "relative" in w:
            out["relative"] = L.relative_teacher(torch.cat([s_a, s_b]), torch.cat([t_a, t_b]))
        if "desdis" in w:
            out["desdis"] = L.desdis(s_a, s_b, t_a, t_b, self.cfg.margin, self.cfg.desdis_regulariser,
                                     exclude=close.to(desc.device))
        return out


def _dist_info() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def save_checkpoint(path: str | os.PathLike, student: SlamfeatStudent, model: DistillModel,
                    optimizer: torch.optim.Optimizer, step: int, cfg: DistillConfig, conf: dict[str, Any]) -> None:
    """Write the student and the training state atomically (a reader never sees half a file)."""
    space = teacher_space_record(cfg.teacher, REGISTRY[cfg.teacher].descriptor_dim, cfg.losses.get("absolute", 0.0),
                                 model.projection)
    ckpt = student_checkpoint(student, conf=conf, step=int(step), config=json.dumps(asdict(cfg)),
                              optimizer=optimizer.state_dict(), **space)
    write_checkpoint(path, ckpt)


def _resume(cfg: DistillConfig, student: SlamfeatStudent, model: DistillModel,
            optimizer: torch.optim.Optimizer) -> int:
    path = Path(cfg.out)
    if not (cfg.resume and path.exists()):
        return 0
    ckpt = read_checkpoint(path)
    if ckpt["arch"] != student.arch or ckpt.get("teacher") != cfg.teacher or \
            int(ckpt["arch_conf"].get("descriptor_dim", -1)) != student.descriptor_dim:
        raise BadInput(f"{path}: was trained as {ckpt['arch']} from {ckpt.get('teacher')}; "
                       f"cannot resume it as {student.arch} ({student.descriptor_dim}-D) from {cfg.teacher}")
    try:
        student.net.load_state_dict(ckpt["state_dict"])
        if model.projection is not None and ckpt.get("projection"):
            model.projection.load_state_dict(ckpt["projection"])
        if ckpt.get("optimizer"):
            optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise BadInput(f"{path}: training state does not fit this run ({type(e).__name__})") from None
    done = int(ckpt.get("step", 0))
    if done > cfg.steps:
        raise BadInput(f"{path}: already trained for {done} steps, more than the {cfg.steps} steps asked for; "
                       f"ask for more than {done} steps to train on", option="steps")
    return done


def _initialise(path: str, student: SlamfeatStudent, model: DistillModel) -> None:
    """Start from a trained student's weights (and its projection when it kept one that fits)."""
    ckpt = read_checkpoint(path)
    try:
        student.net.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError) as e:
        raise BadInput(f"{path}: weights do not fit {student.arch} ({type(e).__name__})") from None
    proj = ckpt.get("projection") or {}
    if model.projection is not None and proj:
        try:
            model.projection.load_state_dict(proj)
        except (RuntimeError, KeyError):
            pass  # a projection of other sizes: learned afresh


def distill(cfg: DistillConfig, on_step: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, Any]:
    """Train a student from a teacher; returns a summary (steps, final losses, time, out).

    Raises:
        BadInput: bad settings, an image folder without images, a corrupt checkpoint to resume.
    """
    check_config(cfg)
    rank, world = _dist_info()
    device = resolve_device(cfg.device)
    frames_dir = Path(cfg.out).parent / ".distill-frames"
    if rank == 0:  # the first process renders any synthetic frames, the others then read them
        images = training_images(cfg.images, cfg.crop, frames_dir, cfg.synth_frames, cfg.with_renders)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if world > 1:
        torch.distributed.barrier()
    if rank > 0:
        images = training_images(cfg.images, cfg.crop, frames_dir, cfg.synth_frames, cfg.with_renders)
    if not images:
        raise BadInput("no training images found")
    torch.manual_seed(cfg.seed)
    teacher = Teacher(cfg.teacher, cfg.teacher_weights, device)
    student = build_student(cfg.student, cfg.descriptor_dim).to(device)
    model = DistillModel(student, teacher.descriptor_dim, cfg).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    start = _resume(cfg, student, model, optimizer)
    if start == 0 and cfg.init:
        _initialise(cfg.init, student, model)
    wrapped: nn.Module = model
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    # the threshold the student is validated at is the one its checkpoint keeps (not the teacher's)
    conf = {"detection_threshold": float(student.conf["detection_threshold"])}
    log_path = Path(cfg.log) if cfg.log else Path(str(cfg.out) + ".log.jsonl")
    log = None
    if rank == 0:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "a")
        log.write(json.dumps({"config": asdict(cfg), "start_step": start, "world_size": world}) + "\n")
    cache = SampleCache(cfg.cache)
    val_data, val_log = None, []
    if rank == 0 and cfg.val_images:
        val_data = validation_set(cfg.val_images, cfg.val_pairs, max(cfg.crop, 256), cfg.max_rotation)
        teacher_val = validate(teacher.model, val_data)
        log.write(json.dumps({"validation_set": {"folders": val_data.folders, "images": val_data.images,
                                                 "pairs": cfg.val_pairs}, "teacher": teacher_val}) + "\n")

    def run_validation(step: int) -> None:
        if val_data is not None:
            result = {"step": step, **validate(student, val_data)}
            val_log.append(result)
            log.write(json.dumps({"val": result}) + "\n")
            log.flush()

    def fresh_count(cached: int) -> int:  # pairs the teacher labels this step
        return min(max(cfg.fresh, cfg.batch - cached) if cfg.cache > 0 else cfg.batch, cfg.batch)

    def pairs_for(step: int, count: int) -> list:  # its own generator: the same pairs with or without prefetch
        return make_pairs(images, count, cfg.crop, np.random.default_rng([cfg.seed, rank, step, 1]), cfg.max_rotation,
                          cfg.max_scale)

    pool = ThreadPoolExecutor(1) if cfg.prefetch else None
    pending = None
    last_save, t0, losses = time.time(), time.time(), {}
    steps = range(start, cfg.steps)
    bar = progress(steps, desc=f"distill {cfg.teacher}→{cfg.student}") if rank == 0 else steps
    try:
        for step in bar:
            rng = np.random.default_rng([cfg.seed, rank, step])
            fresh = fresh_count(len(cache))
            pairs = pending.result() if pending is not None else pairs_for(step, fresh)
            new = label(pairs, teacher, cfg.points)
            batch = new + cache.draw(cfg.batch - fresh, rng)
            cache.add(new)
            if pool is not None and step + 1 < cfg.steps:  # the next step's pairs, made meanwhile
                pending = pool.submit(pairs_for, step + 1, fresh_count(len(cache)))
            imgs = torch.cat([torch.stack([s.image_a for s in batch]), torch.stack([s.image_b for s in batch])])
            imgs = imgs.to(device).float().div(255)
            t_logits = torch.cat([torch.stack([s.logits_a for s in batch]),
                                  torch.stack([s.logits_b for s in batch])]).to(device).float()
            for g in optimizer.param_groups:
                g["lr"] = learning_rate(step, cfg)
            parts = wrapped(imgs, t_logits, batch, teacher.score_threshold)
            total = sum(cfg.losses[k] * v for k, v in parts.items())
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            losses = {k: float(v.detach()) for k, v in parts.items()}
            losses["total"] = float(total.detach())
            if rank == 0:
                log.write(json.dumps({"step": step + 1, "t": round(time.time() - t0, 3), "lr": learning_rate(step, cfg),
                                      **losses}) + "\n")
                log.flush()
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
                if time.time() - last_save > cfg.checkpoint_every:
                    save_checkpoint(cfg.out, student, model, optimizer, step + 1, cfg, conf)
                    run_validation(step + 1)
                    last_save = time.time()
            if on_step is not None:
                on_step(step + 1, losses)
        if rank == 0 and start < cfg.steps:  # a finished run resumed again is left as it was
            save_checkpoint(cfg.out, student, model, optimizer, cfg.steps, cfg, conf)
            run_validation(cfg.steps)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if log is not None:
            log.close()
        if world > 1 and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
    return {"teacher": cfg.teacher, "student": cfg.student, "out": str(cfg.out), "start_step": start,
            "steps": cfg.steps, "losses": losses, "time_s": time.time() - t0, "world_size": world,
            "params": student.num_parameters(), "descriptor_dim": student.descriptor_dim, "log": str(log_path),
            "validation": val_log[-1] if val_log else None,
            "teacher_validation": teacher_val if val_data is not None else None}
