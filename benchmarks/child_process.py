"""Work in a process of its own, for scripts that run one heavy job after another (paper_table).

A job's vLLM engine, model and caches go with its process when it ends, instead of piling up in one long-lived
process. This module imports nothing heavy, so a child pays only for what its job imports.
"""

from __future__ import annotations

import logging
import multiprocessing

# The log lines of a script and of its children, one format, so that one log reads in order.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def in_child(fn, *args, **kwargs) -> None:
    """Runs fn in a fresh process: each system's vLLM engine (and the trainer's) goes, with its memory, when its work
    is done, instead of piling up in one process."""
    child = multiprocessing.get_context("spawn").Process(target=_child, args=(fn, args, kwargs))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"error: {fn.__name__} failed (exit code {child.exitcode}); the log above says why")


def _child(fn, args, kwargs) -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    import agent_r1.envs  # noqa: F401  (registers the envs in this process)

    fn(*args, **kwargs)
