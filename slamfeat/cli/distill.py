"""``slamfeat distill``: train a student detector-descriptor from a pretrained teacher."""

from __future__ import annotations

from ..distill.losses import LOSSES
from ..distill.train import DEFAULT_LOSSES, DistillConfig
from .common import add_json_arg, print_table, write_report


def add_parser(sub) -> None:
    d = DistillConfig("", "", "")
    p = sub.add_parser("distill", help="train a student from a teacher on unlabelled images",
                       description="Distil a pretrained teacher into a student detector-descriptor. Pairs are "
                                   "random crops and their homographic + photometric warps, so no labels are needed.")
    p.add_argument("--teacher", required=True, help="disk, aliked-n32, aliked-n16, aliked-t16, xfeat or superpoint")
    p.add_argument("--teacher-weights", default=None, help="teacher weights file (superpoint needs one)")
    p.add_argument("--student", default="slamfeat-lite", help="slamfeat-lite (default) or slamfeat-base")
    p.add_argument("--descriptor-dim", type=int, default=None, help="student descriptor size (default: the preset's)")
    p.add_argument("--images", nargs="+", default=None, metavar="DIR",
                   help="folders of training images (default: scikit-image photographs + synthetic AirSim frames)")
    p.add_argument("--out", required=True, help="checkpoint to write (PATH.pt, loadable with --model PATH.pt)")
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimiser steps (default {d.steps})")
    p.add_argument("--losses", nargs="+", default=None, metavar="NAME[=W]",
                   help=f"losses and weights, e.g. det-kl=1,absolute=1; names: {', '.join(LOSSES)} "
                        f"(default {','.join(f'{k}={v:g}' for k, v in DEFAULT_LOSSES.items())}); a positive "
                        f"absolute weight keeps the student in the teacher's descriptor space, so that "
                        f"--matcher lightglue uses the teacher's LightGlue")
    p.add_argument("--batch", type=int, default=d.batch, help=f"pairs per step (default {d.batch})")
    p.add_argument("--crop", type=int, default=d.crop, help=f"crop side in px, multiple of 32 (default {d.crop})")
    p.add_argument("--points", type=int, default=d.points, help=f"correspondences per pair (default {d.points})")
    p.add_argument("--fresh", type=int, default=d.fresh,
                   help=f"pairs the teacher labels per step, the rest from the cache (default {d.fresh})")
    p.add_argument("--cache", type=int, default=d.cache, help=f"labelled pairs kept for reuse (default {d.cache})")
    p.add_argument("--max-rotation", type=float, default=d.max_rotation,
                   help=f"largest in-plane rotation of the random warps, degrees (default {d.max_rotation:g})")
    p.add_argument("--max-scale", type=float, default=None,
                   help="largest zoom of the random warps: they zoom between 1/S and S, log-uniform "
                        "(default: 0.75 to 1.35); 2 trains for the scale changes of real sequences")
    p.add_argument("--no-prefetch", dest="prefetch", action="store_false",
                   help="make each step's pairs in the training thread (default: the next step's are made in a "
                        "thread while this one trains)")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    p.add_argument("--warmup", type=int, default=d.warmup, help=f"warm-up steps (default {d.warmup})")
    p.add_argument("--temperature", type=float, default=d.temperature, help="det-kl softening temperature")
    p.add_argument("--margin", type=float, default=d.margin, help="desdis triplet margin")
    p.add_argument("--desdis-regulariser", type=float, default=d.desdis_regulariser,
                   help="weight of DesDis's teacher-student term")
    p.add_argument("--projection", choices=["linear", "none"], default=d.projection,
                   help="absolute loss: learned projection when student and teacher sizes differ")
    p.add_argument("--checkpoint-every", type=float, default=d.checkpoint_every, help="seconds between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue the run saved at --out")
    p.add_argument("--synth-frames", type=int, default=d.synth_frames,
                   help="synthetic AirSim frames added to the default images (0 = none)")
    p.add_argument("--with-renders", action="store_true",
                   help="add the synthetic AirSim frames (--synth-frames) to the --images folders too")
    p.add_argument("--init", default=None, metavar="CKPT",
                   help="start from this student checkpoint's weights (a fresh optimiser and schedule)")
    p.add_argument("--val-images", nargs="+", default=None, metavar="DIR",
                   help="held-out folders (never a training folder): MMA of fixed warped pairs at each checkpoint")
    p.add_argument("--val-pairs", type=int, default=d.val_pairs, help=f"validation pairs (default {d.val_pairs})")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--log", default=None, help="JSON-lines log of every loss (default OUT.log.jsonl)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default torch's; 1 is fastest on a busy machine)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ..distill.train import distill, parse_losses

    if args.threads:
        torch.set_num_threads(max(int(args.threads), 1))

    cfg = DistillConfig(teacher=args.teacher, student=args.student, out=args.out, images=list(args.images or []),
                        teacher_weights=args.teacher_weights, descriptor_dim=args.descriptor_dim,
                        losses=parse_losses(args.losses), steps=args.steps, batch=args.batch, crop=args.crop,
                        points=args.points, max_rotation=args.max_rotation, max_scale=args.max_scale,
                        prefetch=args.prefetch, fresh=args.fresh,
                        cache=args.cache, lr=args.lr, warmup=args.warmup, temperature=args.temperature, margin=args.margin,
                        desdis_regulariser=args.desdis_regulariser, projection=args.projection,
                        checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device,
                        resume=args.resume, synth_frames=args.synth_frames, log=args.log,
                        with_renders=args.with_renders, init=args.init, val_images=list(args.val_images or []),
                        val_pairs=args.val_pairs)
    report = distill(cfg)
    import os
    if int(os.environ.get("RANK", "0")) == 0:
        print_table([[k, v] for k, v in report["losses"].items()], ["loss", "last value"])
        print(f"{report['student']} ({report['params']} parameters, {report['descriptor_dim']}-D) trained from "
              f"{report['teacher']}: steps {report['start_step']}→{report['steps']} in {report['time_s']:.0f} s "
              f"-> {report['out']}")
        if report.get("validation"):
            v, t = report["validation"], report["teacher_validation"]
            print(f"validation ({v['pairs']} held-out pairs): MMA@3 {v['mma@3']:.3f} (teacher {t['mma@3']:.3f}), "
                  f"{v['matches_per_pair']:.0f} matches a pair")
        write_report(args, report)
    return 0
