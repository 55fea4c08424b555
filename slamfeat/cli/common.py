"""Options shared by several commands and the short tables they print."""

from __future__ import annotations

import argparse
from typing import Any, Iterable, Sequence

from ..features import DEFAULT_MODEL, load_extractor, resolve_device
from ..io import write_json_atomic
from ..io.outputs import check_distinct, output_file


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
    add_scales_arg(parser)


def parse_scales(text: str) -> list[float]:
    """``--scales`` as given (``1,0.6``): floats, checked by the student that uses them."""
    try:
        return [float(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated factors such as 1,0.6") from None


def add_scales_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scales", type=parse_scales, default=None, metavar="S[,S…]",
                        help="students: also extract on the image resized by these factors and keep the best-scored "
                             "keypoints of all (e.g. 1,0.6: robust to zoom, about 1.4× the time; default 1)")


def add_evaluated_models_args(parser: argparse.ArgumentParser, max_keypoints: int) -> None:
    """An evaluation's ``--model`` (repeated), ``--weights``, ``--max-keypoints`` (its protocol's
    default) and ``--resize-max``."""
    parser.add_argument("--model", action="append", default=None,
                        help=f"extractor name or student checkpoint PATH.pt; repeat for several (default {DEFAULT_MODEL})")
    parser.add_argument("--weights", default=None, help="weights file for the model (superpoint needs one)")
    parser.add_argument("--max-keypoints", type=int, default=max_keypoints,
                        help=f"best-scored keypoints kept per image (default {max_keypoints})")
    parser.add_argument("--resize-max", type=int, default=None,
                        help="resize so the longest side is this many px for extraction")
    add_scales_arg(parser)


def add_matcher_args(parser: argparse.ArgumentParser, default: str = "nn") -> None:
    """``--matcher``, ``--ratio``, ``--distance-threshold``, ``--no-mutual``, ``--filter-threshold``,
    ``--lightglue-weights`` (the fields of :class:`slamfeat.matching.MatcherConfig`)."""
    g = parser.add_argument_group("matching")
    g.add_argument("--matcher", default=default, choices=["nn", "lightglue"],
                   help="nn: mutual nearest neighbours; lightglue: the features' LightGlue (disk, aliked-n16/n32, xfeat, "
                        f"and students distilled from them: their teacher's) (default {default})")
    g.add_argument("--ratio", type=float, default=None,
                   help="nn: Lowe's ratio threshold in (0, 1]; 1 = no test (default: 0.8 for sift, none otherwise)")
    g.add_argument("--distance-threshold", type=float, default=None,
                   help="nn: largest L2 distance (float descriptors) or number of differing bits (binary)")
    g.add_argument("--no-mutual", dest="mutual", action="store_false", help="nn: no mutual nearest-neighbour check")
    g.add_argument("--filter-threshold", type=float, default=0.1, help="lightglue: match probability threshold (default 0.1)")
    g.add_argument("--lightglue-weights", default=None, metavar="FILE",
                   help="lightglue: a weights file instead of the features' own (same architecture)")


def matcher_config(args: argparse.Namespace):
    """The :class:`slamfeat.matching.MatcherConfig` of the flags of :func:`add_matcher_args` (checked)."""
    from ..matching.matcher import MatcherConfig
    return MatcherConfig(args.matcher, mutual=args.mutual, ratio=args.ratio, distance_threshold=args.distance_threshold,
                         filter_threshold=args.filter_threshold, weights=args.lightglue_weights,
                         max_memory_mb=getattr(args, "max_memory_mb", 256)).check()


def describe_matcher(d: dict) -> str:
    """One line naming a matcher from its report entry (:meth:`slamfeat.matching.Matcher.describe`)."""
    if d.get("name") == "lightglue":
        via = f", teacher {d['teacher']} ({d['teacher_space']})" if d.get("teacher") else ""
        return f"lightglue ({d['weights']}{via}, filter {d['filter_threshold']:g})"
    parts = ["mutual" if d.get("mutual", True) else "not mutual"]
    if d.get("ratio") is not None:
        parts.append(f"ratio {d['ratio']:g}{' (default)' if d.get('ratio_is_default') else ''}")
    if d.get("distance_threshold") is not None:
        parts.append(f"distance ≤ {d['distance_threshold']:g}")
    return f"nn ({', '.join(parts)})"


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where networks and the matcher run (auto = cuda when present)")


def add_json_arg(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--json", metavar="PATH", default=None, required=required, help="write the whole report here")


def check_paths(args: argparse.Namespace, outputs: dict[str, str | None], inputs: dict | None = None) -> None:
    """Before any work: each output (``--out``, ``--json``…) can be written where it is named, and
    no output is another output or an input."""
    outputs = {what: path for what, path in outputs.items() if path is not None}
    json_path = getattr(args, "json", None)
    if json_path is not None:
        outputs["JSON report"] = json_path
        output_file(json_path, "JSON report")
    check_distinct(outputs, inputs or {})


def model_conf(args: argparse.Namespace) -> dict[str, Any]:
    """Extractor options given on the command line (unset ones left to the model's defaults)."""
    conf = {"max_keypoints": args.max_keypoints, "detection_threshold": args.detection_threshold,
            "nms_radius": args.nms_radius, "resize_max": args.resize_max, "scales": getattr(args, "scales", None)}
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
