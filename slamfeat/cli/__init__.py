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

# command → one-line help; each command's module is imported only when that command runs, so
# `slamfeat models` does not pay for open3d or pycolmap
COMMANDS = {
    "models": "list every extractor and whether its weights are present",
    "extract": "extract features of images into an h5 file (hloc layout)",
    "pairs": "write an image-pair list (exhaustive or sequential:K)",
    "match": "match the listed pairs of a features file into a matches file",
    "synth": "make synthetic datasets (HPatches, AirSim formats)",
    "eval": "evaluate extractors (HPatches, AirSim, relative pose on pairs, Middlebury stereo)",
    "vo": "monocular visual odometry on a video, image folder or recording",
    "reconstruct": "features, matches, COLMAP database and pycolmap mapping",
    "distill": "train a student from a teacher",
    "bench": "speed benchmarks beside the reference implementations",
    "export": "export a student to ONNX or TorchScript",
    "demo": "visual odometry on the embedded default sequence",
}
# groups of sub-commands, each sub-command a module of its own
GROUPS = {
    "synth": {"hpatches": "synth_hpatches", "airsim": "synth_airsim"},
    "eval": {"hpatches": "eval_hpatches", "airsim": "eval_airsim", "pairs": "eval_pairs", "stereo": "eval_stereo"},
    "bench": {"extract": "bench_extract", "match": "bench_match"},
}


def _load(module: str):
    try:
        return importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as e:
        if e.name == f"{__name__}.{module}":
            return None  # command not available in this build
        raise


def _wanted(argv: list[str], choices) -> str | None:
    """The first word of ``argv`` that names one of ``choices`` (None when there is none)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in choices else None
    return None


def _add_module_parser(sub, module: str, name: str, help_: str, selected: bool) -> None:
    mod = _load(module) if selected else None
    if mod is not None:
        mod.add_parser(sub)
    elif not selected:
        sub.add_parser(name, help=help_, add_help=False)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (the usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# options whose value may start with "-" (a negative number first): argparse would take the value
# for an option of its own
NEGATIVE_VALUE_OPTIONS = ("--calib", "--camera-params")


def _join_negative_values(argv: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(argv):
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if argv[i] in NEGATIVE_VALUE_OPTIONS and value[:1] == "-" and value[1:2] in tuple("0123456789."):
            out.append(f"{argv[i]}={value}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with the full options of the command that ``argv`` names (all of them when None)."""
    parser = _Parser(prog="slamfeat", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _wanted(argv, COMMANDS) if argv is not None else None
    for name, help_ in COMMANDS.items():
        selected = argv is None or name == chosen
        if name not in GROUPS:
            _add_module_parser(sub, name, name, help_, selected)
            continue
        group = sub.add_parser(name, help=help_, description=help_)
        if not selected:
            continue
        gsub = group.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
        # the named sub-command only; all of them when none is named (for the group's --help)
        sub_chosen = _wanted(argv[argv.index(name) + 1:], GROUPS[name]) if argv is not None else None
        for sub_name, module in GROUPS[name].items():
            _add_module_parser(gsub, module, sub_name, f"{name} {sub_name}", sub_chosen in (None, sub_name))
    return parser


def _flag_of(parser: argparse.ArgumentParser, option: str) -> str | None:
    """The flag of the chosen command that sets the library's ``option`` (None when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flag = _flag_of(sub, option)
                if flag:
                    return flag
        elif action.dest == option and action.option_strings:
            return max(action.option_strings, key=len)
    return None


def main(argv: list[str] | None = None) -> int:
    argv = _join_negative_values(sys.argv[1:] if argv is None else [str(a) for a in argv])
    args = build_parser(argv).parse_args(argv)
    try:
        code = args.func(args)
    except BadInput as e:
        flag = _flag_of(build_parser(argv), e.option) if e.option else None
        print(f"slamfeat: error: {flag + ': ' if flag else ''}{e}", file=sys.stderr)
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
    finally:
        _leave_process_group()
    return int(code or 0)


def _leave_process_group() -> None:
    """Under torchrun: leave the group that extract or match joined (torch is not imported otherwise)."""
    if "slamfeat.distributed" in sys.modules:
        sys.modules["slamfeat.distributed"].leave()


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
