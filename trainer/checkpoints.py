"""Checkpoint folders: written whole or not at all, and found again on resume."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Callable

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class CorruptCheckpointError(RuntimeError):
    """A checkpoint folder is missing files or holds unreadable ones."""


def save_atomically(target: Path, write: Callable[[Path], object]) -> Path:
    """Calls write(tmp) on a fresh sibling folder, syncs it, then renames it onto `target`."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    for path in tmp.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint-N folder with the largest N, checked for the files a resume reads."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    steps = sorted((int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name)))
    if not steps:
        return None
    path = steps[-1][1]
    check_checkpoint(path)
    return path


def check_checkpoint(path: Path) -> None:
    import json

    state = path / "trainer_state.json"
    weights = [p for p in ("adapter_model.safetensors", "model.safetensors") if (path / p).exists()]
    missing = [name for name, ok in (("trainer_state.json", state.exists()), ("model weights", bool(weights)),
                                     ("optimizer.pt", (path / "optimizer.pt").exists())) if not ok]
    if missing:
        raise CorruptCheckpointError(f"checkpoint {path} is incomplete (missing {', '.join(missing)}); "
                                     "delete it to resume from the one before")
    try:
        json.loads(state.read_text())
        from safetensors import safe_open

        with safe_open(str(path / weights[0]), "pt") as f:
            list(f.keys())
    except Exception as exc:  # noqa: BLE001 - any unreadable file means the same to the user
        raise CorruptCheckpointError(f"checkpoint {path} is corrupt ({exc}); delete it to resume from the one before") from None
