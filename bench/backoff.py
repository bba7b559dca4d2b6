"""Batch sizes that back off on out-of-memory: halve and retry, down to one item.

The runner calls ``candidate.generate`` and ``suite.judge`` through :class:`BatchLimits`.
A call that raises ``torch.OutOfMemoryError`` is split into halves, recursively; at one item
the error is raised. The smallest size that was needed is kept, so later batches start
there, and every back-off is recorded (the manifest lists them). Generation and judging are
per item (each image has its own seed), so splitting a batch does not change what they give.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def is_out_of_memory(error: BaseException) -> bool:
    """A torch out-of-memory error (CUDA, or any device that raises ``torch.OutOfMemoryError``)."""
    torch = sys.modules.get("torch")  # without torch imported, nothing can have raised it
    return torch is not None and isinstance(error, torch.OutOfMemoryError)


def _release_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


@dataclass
class BatchLimits:
    """The largest batch each kind of call (``"generate"``, ``"judge <suite>"``) may get."""

    sizes: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def call(self, what: str, fn: Callable[[list[T]], Sequence[Any]], items: Sequence[T]) -> list[Any]:
        """``fn(items)``, in chunks no larger than the limit for ``what`` (all at once if none)."""
        items = list(items)
        out: list[Any] = []
        i = 0
        while i < len(items):
            chunk = items[i:i + self.sizes.get(what, len(items))]
            out += self._try(what, fn, chunk)
            i += len(chunk)
        return out

    def _try(self, what: str, fn: Callable[[list[T]], Sequence[Any]], chunk: list[T]) -> list[Any]:
        try:
            return list(fn(chunk))
        except Exception as e:
            if len(chunk) <= 1 or not is_out_of_memory(e):
                raise
        # retried outside the except block, so that the error's frames (and tensors) are freed
        _release_memory()
        half = (len(chunk) + 1) // 2
        if half < self.sizes.get(what, len(chunk) + 1):
            self.sizes[what] = half
        self.events.append({"what": what, "from": len(chunk), "to": half, "time": time.time()})
        return self.call(what, fn, chunk[:half]) + self.call(what, fn, chunk[half:])
