"""Multi-process runs: which process does which request, barriers, and the launcher.

A run started by a launcher sees ``WORLD_SIZE > 1`` in its environment: ``gauntlet run
--processes N`` (accelerate's ``notebook_launcher``: N forked processes), ``accelerate launch
--multi_gpu --num_processes N -m bench.cli run ...`` or ``torchrun --nproc_per_node N -m
bench.cli run ...`` (both also work on a machine without a GPU). ``accelerate launch --cpu
--num_processes N`` starts only one process (accelerate 1.15 launches several CPU processes
only through MPI); that run is simply single-process. The processes must share one machine:
the store is a local SQLite file.

Processes coordinate through accelerate's ``PartialState`` on the gloo backend (small
pickled objects only, so it is used with GPUs too: no NCCL communicator per rank is needed
and several processes may share one GPU). Under CUDA each process takes GPU
``local_rank % device_count`` as its current device, so ``"cuda"`` means its own GPU.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

T = TypeVar("T")

# How long a process waits at a barrier for the others. Requests are striped across
# processes, so they finish close together; a process that fails makes the launcher stop
# the others, so this bounds only a hang.
BARRIER_TIMEOUT = timedelta(hours=6)


def under_launcher() -> bool:
    """Whether this process is one of several started by a launcher."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@dataclass
class Processes:
    """This process's place among the run's processes; one process by default."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    _state: Any = None

    @classmethod
    def from_env(cls) -> Processes:
        """The processes a launcher started (joining their process group), or a single one."""
        if not under_launcher():
            return cls()
        import torch
        from accelerate import PartialState

        state = PartialState(cpu=True, timeout=BARRIER_TIMEOUT)  # gloo; see the module docstring
        local = int(os.environ.get("LOCAL_RANK", state.local_process_index))
        if torch.cuda.is_available():
            torch.cuda.set_device(local % torch.cuda.device_count())
        return cls(state.process_index, state.num_processes, local, state)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This process's share: every ``world``-th item from its rank (striped, so balanced)."""
        return list(items[self.rank::self.world])

    def barrier(self) -> None:
        if self.world > 1:
            self._state.wait_for_everyone()

    def close(self, finished: bool = True) -> None:
        """Leave the process group before the interpreter exits.

        Left to interpreter shutdown, the gloo group and the store that rank 0 hosts are torn
        down by C++ destructors while their threads may still run, which can abort the process
        ("terminate called without an active exception") after the run has finished. A process
        that ``finished`` waits for the others first, so rank 0's store outlives every client.
        """
        if self.world == 1 or self._state is None:
            return
        if finished:
            self._state.wait_for_everyone()
        self._state.destroy_process_group()
        self._state = None

    def all_gather(self, obj: T) -> list[T]:
        """``obj`` from every process, in rank order (also a barrier)."""
        if self.world == 1:
            return [obj]
        from accelerate.utils import gather_object

        return gather_object([obj])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(fn: Callable[..., int], args: tuple, processes: int) -> int:
    """Run ``fn(*args)`` (an exit code) in ``processes`` forked processes through accelerate's launcher.

    Returns the largest exit code; when one process fails, the launcher stops the others. A
    failing process reports its own error on stderr; the launcher's banner (which says
    "CUDAs" even on CPUs) and logs are dropped, so stdout stays clean for ``--format json``.
    """
    from accelerate import notebook_launcher
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    threads = int(os.environ.get("OMP_NUM_THREADS") or max(1, (os.cpu_count() or 1) // processes))
    elastic_log = logging.getLogger("torch.distributed.elastic")
    level = elastic_log.level
    elastic_log.setLevel(logging.CRITICAL)
    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            notebook_launcher(_child, (fn, args, threads), num_processes=processes, use_port=str(free_port()))
    except ChildFailedError as e:
        codes = {rank: f.exitcode for rank, f in e.failures.items()}
        print(f"gauntlet: the process of rank {', '.join(map(str, codes))} (of {processes}) failed", file=sys.stderr)
        return max((c for c in codes.values() if c > 0), default=1)
    finally:
        elastic_log.setLevel(level)
    return 0


def _child(fn: Callable[..., int], args: tuple, threads: int) -> None:
    import torch

    sys.stdout = sys.__stdout__  # undo the parent's redirect (inherited through fork)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # accelerate's PartialState reads it
    torch.set_num_threads(threads)
    try:
        code = fn(*args)
    except Exception:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    if code:
        raise SystemExit(code)
