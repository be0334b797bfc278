"""Checkpoint folders: written whole or not at all, found again on resume, and checked
before a resume loads the model, so that a damaged run folder is one clear error
instead of a traceback minutes later."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any, Callable

from agent_r1.tools.paths import CHECKPOINT

_WEIGHTS = ("adapter_model.safetensors", "model.safetensors")
# What json.loads raises on bad bytes: broken syntax, a 5,000-digit integer (ValueError), deep nesting.
_JSON_ERRORS = (OSError, ValueError, RecursionError)


class CorruptCheckpointError(RuntimeError):
    """A run folder or one of its checkpoints is missing files or holds unreadable ones."""


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
    steps = sorted((int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := CHECKPOINT.match(p.name)))
    if not steps:
        return None
    path = steps[-1][1]
    check_checkpoint(path)
    return path


def checkpoint_step(path: Path) -> int:
    """N, for a checkpoint-N folder."""
    match = CHECKPOINT.match(Path(path).name)
    if match is None:
        raise ValueError(f"{path} is not a checkpoint-N folder")
    return int(match.group(1))


def check_checkpoint(path: Path) -> None:
    """Every file a resume reads is there and parses, checked without loading a model or unpickling."""
    state = path / "trainer_state.json"
    weights = [p for p in _WEIGHTS if (path / p).exists()]
    missing = [name for name, ok in (("trainer_state.json", state.exists()), ("model weights", bool(weights)),
                                     ("optimizer.pt", (path / "optimizer.pt").exists())) if not ok]
    if missing:
        raise CorruptCheckpointError(f"checkpoint {path} is incomplete (missing {', '.join(missing)}); "
                                     "delete it to resume from the one before")
    problems = [(state.name, _trainer_state_problem(state)), (weights[0], safetensors_problem(path / weights[0]))]
    problems += [(f.name, torch_file_problem(f)) for f in sorted([*path.glob("*.pt"), *path.glob("*.pth")])]
    for name, problem in problems:
        if problem:
            raise CorruptCheckpointError(f"checkpoint {path} is corrupt ({name}: {problem}); "
                                         "delete it to resume from the one before")


def safetensors_problem(path: Path) -> str | None:
    """Why a safetensors file cannot be read, or None; a file cut short fails here."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            list(f.keys())
    except Exception as exc:  # noqa: BLE001 - any unreadable file means the same to the user
        return _short(exc)
    return None


def torch_file_problem(path: Path) -> str | None:
    """Why a torch.save file (optimizer, scheduler, RNG state, value head) cannot be read, or None.

    torch.save writes a zip archive whose directory sits at the end: a file cut
    short loses it, so opening the archive finds truncation without unpickling."""
    try:
        with zipfile.ZipFile(path) as archive:
            if not archive.namelist():
                return "an empty archive"
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return f"not a complete torch file ({exc})"
    return None


def _trainer_state_problem(path: Path) -> str | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except _JSON_ERRORS as exc:
        return _short(exc)
    if not isinstance(state, dict):
        return f"expected a JSON object, got {type(state).__name__}"
    step = state.get("global_step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return f"global_step should be a step number, got {step!r}"
    unknown = sorted(set(state) - _trainer_state_fields())
    if unknown:  # the trainer would fail on them after loading the model
        return f"unknown field(s) {', '.join(unknown)}"
    return None


def _trainer_state_fields() -> set[str]:
    import dataclasses

    from transformers import TrainerState

    return {f.name for f in dataclasses.fields(TrainerState)}


def read_json_object(path: Path, remedy: str) -> dict[str, Any]:
    """A JSON object file of the run (settings, summary); anything else is a CorruptCheckpointError
    naming the file and `remedy`, what the user can do about it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except _JSON_ERRORS as exc:
        raise CorruptCheckpointError(f"{path} is corrupt ({_short(exc)}); {remedy}") from None
    if not isinstance(data, dict):
        raise CorruptCheckpointError(f"{path} is corrupt (expected a JSON object, got {type(data).__name__}); {remedy}")
    return data


def check_metrics_log(path: Path) -> None:
    """metrics.jsonl holds one {"step": N, ...} object a line; only its last line may be cut short (a kill mid-write)."""
    if not path.exists():
        return
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptCheckpointError(f"{path} is unreadable ({_short(exc)}); delete it to resume without the earlier logs") from None
    for number, line in enumerate(lines, start=1):
        try:
            problem = _metrics_record_problem(json.loads(line)) if line.strip() else None
        except _JSON_ERRORS as exc:
            problem = None if number == len(lines) else _short(exc)  # the resume drops a last line cut short
        if problem:
            raise CorruptCheckpointError(f"{path} is corrupt (line {number}: {problem}); "
                                         "delete it to resume without the earlier logs")


def _metrics_record_problem(record: Any) -> str | None:
    """What the resume reads of a record: its step, and the EM and F1 of an evaluation."""
    step = record.get("step") if isinstance(record, dict) else None
    if not isinstance(step, int) or isinstance(step, bool):
        return 'expected an object with an integer "step"'
    if any(key in record and not isinstance(record[key], dict) for key in ("train", "eval")):
        return '"train" and "eval" should be objects'
    scores = [record["eval"].get(key) for key in ("em", "f1")] if "eval" in record else []
    if any(not isinstance(score, (int, float)) or isinstance(score, bool) for score in scores):
        return 'an evaluation should have a numeric "em" and "f1"'
    task_ids = record.get("task_ids", {})
    if not isinstance(task_ids, dict) or any(_ids_problem(ids) for ids in task_ids.values()):
        return '"task_ids" should map "train" or "eval" to a list of task ids (strings)'
    return None


def _ids_problem(ids: Any) -> str | None:
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return "expected a list of task ids (strings)"
    return None


def task_ids_problem(path: Path) -> str | None:
    """Why a JSON list of task ids (the warm start's) cannot be read back, or None."""
    try:
        return _ids_problem(json.loads(Path(path).read_text(encoding="utf-8")))
    except _JSON_ERRORS as exc:
        return _short(exc)


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
