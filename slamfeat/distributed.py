"""Extraction and matching over the processes of a ``torchrun`` launch (many GPUs, many machines).

``torchrun --nproc-per-node N [--nnodes M …] -m slamfeat extract|match …`` starts one process per
GPU with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set. Each process takes the items (images or
pairs) whose position in the full, ordered list is its rank modulo the world size, writes them
to its own shard file ``OUT.rank{r}-of-{w}.partial`` (flushed after each batch, so a killed run
resumes shard by shard), and waits for the others; rank 0 then copies every shard into the usual
``OUT.partial`` and renames it onto ``OUT``. Without ``torchrun`` nothing here is used.

Processes talk through torch.distributed's gloo backend: only barriers and a few small objects
pass between them, and gloo needs no GPU set-up. A shard can take hours while the others wait,
hence the long timeout.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, TypeVar

import torch

T = TypeVar("T")
TIMEOUT = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Shard:
    """This process's share of the work: rank ``rank`` of ``world`` processes."""

    rank: int
    world: int

    def take(self, items: Sequence[T]) -> list[T]:
        """The items at positions ``rank``, ``rank + world``, … of the full list."""
        return list(items[self.rank::self.world])

    def path(self, out: str | os.PathLike) -> Path:
        """The shard file of this rank beside the output ``out``."""
        out = Path(out)
        return out.with_name(f"{out.name}.rank{self.rank}-of-{self.world}.partial")

    def all_paths(self, out: str | os.PathLike) -> list[Path]:
        return [Shard(r, self.world).path(out) for r in range(self.world)]

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        torch.distributed.barrier()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (on every rank)."""
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out


def launched() -> bool:
    """True inside a ``torchrun`` launch of more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str | torch.device | None = "auto") -> None:
    """Join the process group of a ``torchrun`` launch (nothing outside one).

    On a CUDA machine each process takes the GPU of its ``LOCAL_RANK``, so that ``cuda`` names
    that GPU for the rest of the run.
    """
    if not launched() or not torch.distributed.is_available():
        return
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("gloo", timeout=TIMEOUT)
    if str(device) != "cpu" and torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())


def leave() -> None:
    """Leave the process group before the interpreter exits (nothing outside one).

    Left to interpreter shutdown, gloo's threads can be torn down while still joinable, and the
    process aborts after its work is done ("terminate called without an active exception").
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def current_shard() -> Shard | None:
    """This process's shard inside an initialised process group of more than one process; else None."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return None
    world = torch.distributed.get_world_size()
    return Shard(torch.distributed.get_rank(), world) if world > 1 else None


__all__ = ["Shard", "launched", "init_from_env", "leave", "current_shard"]
