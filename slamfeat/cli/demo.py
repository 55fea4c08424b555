"""``slamfeat demo``: the main demo, exactly ``slamfeat vo`` on the embedded default sequence."""

from __future__ import annotations

from . import vo


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="visual odometry on the embedded default sequence (what `make demo` runs)",
                       description="Render the embedded default AirSim-format sequence (once, then reuse it) and run "
                                   "monocular visual odometry on it; prints the report and where its pictures are.")
    vo.add_vo_args(p, "out/demo")
    p.set_defaults(func=run, source=None)


def run(args) -> int:
    args.source = None
    return vo.run(args)
