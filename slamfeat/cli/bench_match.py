"""``slamfeat bench match``: slamfeat's matcher beside OpenCV's BFMatcher and kornia, same inputs."""

from __future__ import annotations

from ..bench.match import run_benchmark
from ..errors import BadInput
from ..features import resolve_device
from .common import add_device_arg, add_json_arg, check_paths, print_table, write_report


def add_parser(sub) -> None:
    p = sub.add_parser("match", help="pairs per second of the matcher beside OpenCV and kornia",
                       description="Match B random pairs of N×D unit descriptors with slamfeat, OpenCV's "
                                   "cross-checked BFMatcher and kornia's match_mnn/match_smnn (per pair and "
                                   "batched); a bare batched matrix product of the same size is the ceiling. "
                                   "--matcher lightglue adds LightGlue on the same descriptors. "
                                   "Checks that all return the same mutual matches.")
    p.add_argument("--n", type=int, default=2048, help="keypoints per side (default 2048)")
    p.add_argument("--dim", type=int, default=128, help="descriptor size (default 128)")
    p.add_argument("--batch", type=int, default=16, help="pairs per batch (default 16)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch and OpenCV (default: torch's)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per contender, the best counts (default 3)")
    p.add_argument("--ratio", type=float, default=0.95, help="ratio of the smnn contenders (default 0.95)")
    p.add_argument("--matcher", default="nn", choices=["nn", "lightglue"],
                   help="lightglue: also time LightGlue on the same descriptors (batched and per pair; D must be 128)")
    p.add_argument("--lightglue-features", default="aliked-n16",
                   help="whose LightGlue weights to time (default aliked-n16, the shipped students' teacher)")
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_paths(args, {})
    for name in ("n", "dim", "batch", "repeats"):
        if getattr(args, name) < 1:
            raise BadInput(f"--{name} {getattr(args, name)}: expected ≥ 1")
    if args.threads is not None and args.threads < 1:
        raise BadInput(f"--threads {args.threads}: expected ≥ 1")
    report = run_benchmark(n=args.n, dim=args.dim, batch=args.batch, threads=args.threads,
                           device=resolve_device(args.device), repeats=args.repeats, ratio=args.ratio,
                           matcher=args.matcher, lightglue_features=args.lightglue_features)
    write_report(args, report)
    ceiling = report["pairs_per_s"]["matmul_ceiling"]
    cpu = report["cpu_pairs_per_s"]
    rows = [[name, pps, report["pairs_per_s"]["slamfeat"] / pps, pps / ceiling, cpu[name], cpu["slamfeat"] / cpu[name],
             report["agreement"].get(name, "reference" if name == "slamfeat" else "-")]
            for name, pps in report["pairs_per_s"].items()]
    print(f"device {report['device']}, {report['threads']} threads, B={args.batch} pairs of N={args.n}, D={args.dim}, "
          f"slamfeat kernel {report['kernel']}")
    print_table(rows, ["matcher", "pairs/s", "slamfeat ×", "of ceiling", "pairs/CPU-s", "slamfeat × (CPU)",
                       "same matches"])
    print("all matchers agree" if report["agree"] else "MATCHERS DISAGREE (see agreement in the report)")
    return 0
