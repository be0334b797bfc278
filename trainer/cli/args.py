"""Command-line values checked where they are parsed: a bad one is a one-line error before any work starts.

The argparse `type=` functions give argparse's own error (exit 2); the rest exit
with `error: ...` (exit 1).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
from pathlib import Path


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):  # NaN fails every comparison, so it is caught here too
        raise argparse.ArgumentTypeError(f"must be a finite number, 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def output_file(text: str) -> Path:
    """A file the results can be written to: checked now, not after minutes of episodes."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: the file is read-only")
    _check_writable(path.parent, text)
    return path


def output_dir(text: str) -> Path:
    """A folder the results can be written to (made if missing): checked now, not after minutes of work."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder")
    _check_writable(path, text)
    return path


def _check_writable(folder: Path, text: str) -> None:
    """`folder`, or the nearest folder above it that exists, can be written (without creating anything)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {existing} is not writable")


def checksum(text: str) -> str:
    """ALGORITHM:HEX with a known algorithm and a digest of its length: a typo fails now, not after the download."""
    algorithm, _, digest = text.lower().partition(":")
    if algorithm not in hashlib.algorithms_available or not re.fullmatch(r"[0-9a-f]+", digest):
        raise argparse.ArgumentTypeError(f"expected ALGORITHM:HEX such as sha256:<64 hex digits>, got {text!r}")
    size = hashlib.new(algorithm).digest_size
    if size and len(digest) != 2 * size:
        raise argparse.ArgumentTypeError(f"a {algorithm} digest has {2 * size} hex digits, got {len(digest)}")
    return f"{algorithm}:{digest}"


def names_list(text: str, option: str) -> list[str]:
    """A comma-separated list that names at least one thing."""
    names = [name for name in text.split(",") if name]
    if not names:
        raise SystemExit(f"error: {option} names nothing, got {text!r}")
    return names
