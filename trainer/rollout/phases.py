"""Where a training step's time goes, and how much memory the run holds.

The trainer, the rollout engine and the generator time their parts on one PhaseClock. A phase opened inside
another is recorded under both names joined by "/" ("step/inputs/rollout/generate"), so the nesting of the code
is the nesting of the record and nothing is counted twice. `breakdown` turns that record into the flat table a
person reads: each part of a step once, the parts adding up to the step.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import resource
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# The table `breakdown` returns, in the order of a step. rollout_prefill and rollout_decode split rollout_generate
# where the generator can tell them apart (transformers' turn-synchronous generate); the others sum to the step.
PHASES = ("weight_sync", "rollout_generate", "rollout_prefill", "rollout_decode", "rollout_env", "rollout_other", "score",
          "forward", "backward", "optimizer", "evaluation", "checkpoint")
_SUMMED = tuple(p for p in PHASES if p not in ("rollout_prefill", "rollout_decode"))


class PhaseClock:
    """Wall seconds per phase since the last `take()`."""

    def __init__(self) -> None:
        self._stack: list[str] = []
        self._seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self._stack.append(name)
        key, started = "/".join(self._stack), time.perf_counter()
        try:
            yield
        finally:
            self._seconds[key] += time.perf_counter() - started
            self._stack.pop()

    def add(self, name: str, seconds: float) -> None:
        """Time measured by the caller, as a phase inside the current one."""
        self._seconds["/".join([*self._stack, name])] += seconds

    def take(self) -> dict[str, float]:
        seconds, self._seconds = dict(self._seconds), defaultdict(float)
        return seconds


def breakdown(seconds: dict[str, float]) -> dict[str, float]:
    """The flat table (PHASES, and their sum as `total`) of a PhaseClock record made by AgentTrainer."""
    get = lambda key: seconds.get(key, 0.0)  # noqa: E731
    rollout = "step/inputs/rollout"
    table = {
        "weight_sync": get("step/inputs/weight_sync"),  # handing the policy's weights to a vLLM sampler
        "rollout_generate": get(f"{rollout}/generate"),
        "rollout_prefill": get(f"{rollout}/generate/prefill"),
        "rollout_decode": get(f"{rollout}/generate/decode"),
        "rollout_env": get(f"{rollout}/env"),
        "rollout_other": get(rollout) - get(f"{rollout}/generate") - get(f"{rollout}/env"),  # resets, templates
        # TRL's scoring: rewards, advantages, log-probs it recomputes
        "score": get("step/inputs") - get(rollout) - get("step/inputs/weight_sync"),
        "forward": get("step/forward"),
        "backward": get("step") - get("step/inputs") - get("step/forward"),
        "optimizer": get("optimizer"),
        "evaluation": get("evaluation"),
        "checkpoint": get("checkpoint"),
    }
    table = {name: max(0.0, value) for name, value in table.items()}  # rounding can leave a remainder of -1e-9
    table["total"] = sum(table[name] for name in _SUMMED)
    return table


def resident_gb() -> float:
    """The process's resident memory now, in GB (Linux /proc; 0 where it is not there)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * resource.getpagesize() / 1e9


def peak_resident_gb() -> float:
    """The most resident memory this process has held since it started, in GB.

    Read from /proc's VmHWM, which starts afresh at exec. ``ru_maxrss`` does not: a child started by vfork carries its
    parent's high-water mark over exec, so a run launched from a large process (a test suite that had converted the
    default model, 4.4 GB) reported the parent's peak as its own. ``ru_maxrss`` is the fallback where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e9
    except (OSError, IndexError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def release_freed_memory() -> None:
    """Hands the memory freed since the last call back to the system (glibc's malloc_trim; nothing elsewhere).

    glibc returns a large freed block at once, but keeps the rest of its heap: after a phase with large activations
    (the warm start) a run held 10 GB of freed pages through all of RL. This call returns them."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")  # runs ldconfig: once
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None
