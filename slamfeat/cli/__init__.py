"""The ``slamfeat`` command line: parses, calls one library function, prints.

Each command lives in a module of this package with ``add_parser(subparsers)``, which registers
the command and sets ``func`` to a function taking the parsed arguments and returning an exit code.
Bad input (:class:`slamfeat.BadInput`) becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import BadInput

COMMANDS = ["models", "extract", "pairs", "match", "synth", "eval", "vo", "reconstruct", "distill",
            "bench", "export", "demo"]
# groups of sub-commands, each sub-command a module of its own
GROUPS = {
    "synth": ("make synthetic datasets", ["synth_hpatches", "synth_airsim"]),
    "eval": ("evaluate extractors", ["eval_hpatches", "eval_airsim", "eval_pairs"]),
    "bench": ("speed benchmarks", ["bench_extract", "bench_match"]),
}


def _load(module: str):
    try:
        return importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as e:
        if e.name == f"{__name__}.{module}":
            return None  # command not available in this build
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slamfeat", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        if name in GROUPS:
            help_, modules = GROUPS[name]
            group = sub.add_parser(name, help=help_, description=help_)
            gsub = group.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
            for m in modules:
                mod = _load(m)
                if mod is not None:
                    mod.add_parser(gsub)
        else:
            mod = _load(name)
            if mod is not None:
                mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except BadInput as e:
        print(f"slamfeat: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("slamfeat: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # anything else: one line, exit 1; the traceback on request
        if os.environ.get("SLAMFEAT_DEBUG"):
            raise
        print(f"slamfeat: internal error: {type(e).__name__}: {e} (set SLAMFEAT_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
    return int(code or 0)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
