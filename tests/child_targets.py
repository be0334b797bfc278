"""Jobs for tests of benchmarks/child_process.py: a module that imports nothing heavy, so a child starts fast."""

import os
from pathlib import Path


def write_pid(path):
    Path(path).write_text(str(os.getpid()))


def fail():
    raise RuntimeError("broken on purpose")
