"""``slamfeat models``: every extractor, its kind, size and weights."""

from __future__ import annotations

from ..features import list_models
from .common import add_json_arg, print_table, write_report


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list every extractor and whether its weights are present",
                       description="List every extractor: name, kind, parameters, descriptor size, weights.")
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    rows = list_models()
    print_table([[r["name"], r["kind"], r["params"], r["descriptor_dim"], r["weights_source"], r["weights"]] for r in rows],
                ["name", "kind", "params", "dim", "weights from", "weights"])
    write_report(args, {"models": rows})
    return 0
