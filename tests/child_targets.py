"""Jobs for tests of benchmarks/child_process.py: a module that imports nothing heavy, so a child starts fast."""

import os
from pathlib import Path


def write_variables(path, *names):
    Path(path).write_text(" ".join(os.environ.get(name, "unset") for name in names))


def fail():
    raise RuntimeError("broken on purpose")
