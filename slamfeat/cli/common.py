"""Options shared by several commands and the short tables they print."""

from __future__ import annotations

import argparse
from typing import Any, Iterable, Sequence

from ..features import DEFAULT_MODEL, load_extractor, resolve_device
from ..io import write_json_atomic


def add_model_args(parser: argparse.ArgumentParser, multiple: bool = False) -> None:
    """``--model`` (one, or repeated), ``--weights``, ``--max-keypoints``, ``--resize-max``."""
    if multiple:
        parser.add_argument("--model", action="append", default=None,
                            help=f"extractor name or student checkpoint PATH.pt; repeat for several (default {DEFAULT_MODEL})")
    else:
        parser.add_argument("--model", default=DEFAULT_MODEL, help=f"extractor name or student checkpoint PATH.pt (default {DEFAULT_MODEL})")
    parser.add_argument("--weights", default=None, help="weights file for the model (superpoint needs one)")
    parser.add_argument("--max-keypoints", type=int, default=None, help="keep at most this many keypoints per image")
    parser.add_argument("--detection-threshold", type=float, default=None, help="detection score threshold")
    parser.add_argument("--nms-radius", type=int, default=None, help="non-maximum suppression radius in pixels")
    parser.add_argument("--resize-max", type=int, default=None, help="resize so the longest side is this many pixels")


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where networks and the matcher run (auto = cuda when present)")


def add_json_arg(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--json", metavar="PATH", default=None, required=required, help="write the whole report here")


def model_conf(args: argparse.Namespace) -> dict[str, Any]:
    """Extractor options given on the command line (unset ones left to the model's defaults)."""
    conf = {"max_keypoints": args.max_keypoints, "detection_threshold": args.detection_threshold,
            "nms_radius": args.nms_radius, "resize_max": args.resize_max}
    return {k: v for k, v in conf.items() if v is not None}


def extractor_from_args(args: argparse.Namespace, name: str | None = None, **overrides):
    conf = {**overrides, **model_conf(args)}
    return load_extractor(name or args.model, weights=args.weights, device=resolve_device(args.device), **conf)


def write_report(args: argparse.Namespace, report: dict) -> None:
    if getattr(args, "json", None):
        write_json_atomic(args.json, report)


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    """A plain fixed-width table on stdout."""
    cells = [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(header)]
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def names_of(values: Iterable[str] | None, default: str) -> list[str]:
    return list(values) if values else [default]
