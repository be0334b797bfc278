"""PythonTool: runs model-written code in a sandboxed process and reports its output.

Each call gets a fresh process in a private temporary directory, with
- a wall-clock timeout, after which its whole process group is killed;
- resource limits: CPU seconds, address space (memory), the size of any file
  it writes (its output goes to a file, so printing gigabytes stops at the
  limit), open files, and no core dumps;
- an audit hook (tools/sandbox_prelude.py) that refuses new processes,
  sockets, ctypes, and writes outside its directory;
- an isolated interpreter (`python -I`) with an empty environment.
Everything that goes wrong comes back as a failed ToolResult with the reason.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agent_r1.tools.base import Tool, ToolResult

PRELUDE = Path(__file__).with_name("sandbox_prelude.py")


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float = 5.0
    cpu_seconds: int = 5
    memory_bytes: int = 512 * 2**20
    file_bytes: int = 4 * 2**20  # any one file the code writes, its captured output included
    open_files: int = 64
    output_chars: int = 2000  # shown to the agent, per stream


def _limit(limits: SandboxLimits):
    def apply() -> None:
        os.setsid()  # its own process group: the timeout kills everything it started
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _tail(path: Path, limit: int) -> tuple[str, bool]:
    with path.open("rb") as f:
        data = f.read(limit * 4 + 1)
    text = data.decode("utf-8", errors="replace")
    size = path.stat().st_size
    truncated = len(text) > limit or size > len(data)
    return (text[:limit] + f"\n... [output truncated; {size} bytes in all]") if truncated else text, truncated


class PythonTool(Tool):
    name = "python"
    description = "Run a Python program and see what it prints. Each call starts fresh; print what you need."
    parameters = {
        "type": "object",
        "properties": {"code": {"type": "string", "description": "a complete Python program"}},
        "required": ["code"],
    }

    def __init__(self, limits: SandboxLimits = SandboxLimits()) -> None:
        self.limits = limits

    def run(self, code: str) -> ToolResult:
        with tempfile.TemporaryDirectory(prefix="agent_r1_python_") as directory:
            work = Path(directory)
            (work / "main.py").write_text(code)
            stdout_path, stderr_path = work / ".stdout", work / ".stderr"
            with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
                process = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(PRELUDE), "main.py"], cwd=work, stdin=subprocess.DEVNULL,
                    stdout=stdout, stderr=stderr, env={"PATH": "/usr/bin:/bin", "HOME": directory, "LANG": "C.UTF-8"},
                    preexec_fn=_limit(self.limits), close_fds=True,
                )
                timed_out = False
                try:
                    process.wait(timeout=self.limits.wall_seconds)
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    try:
                        os.killpg(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    process.wait()
            out, out_cut = _tail(stdout_path, self.limits.output_chars)
            err, err_cut = _tail(stderr_path, self.limits.output_chars)
        code_ = process.returncode
        data = {"stdout": out, "stderr": err, "returncode": code_, "timed_out": timed_out, "truncated": out_cut or err_cut}
        if timed_out:
            error = f"timed out after {self.limits.wall_seconds:g} s"
        elif code_ == -signal.SIGXCPU or code_ == -signal.SIGKILL and not timed_out:
            error = f"ran out of CPU time ({self.limits.cpu_seconds} s)"
        elif code_ == -signal.SIGXFSZ:
            error = f"wrote more than {self.limits.file_bytes} bytes"
        elif code_ != 0:
            last = err.strip().splitlines()[-1] if err.strip() else f"exit status {code_}"
            error = last
        else:
            return ToolResult(content=out if out else "(no output)", data=data)
        content = "\n".join(part for part in (out.strip(), err.strip()[-self.limits.output_chars:], f"Error: {error}") if part)
        return ToolResult(content=content, ok=False, data=data, error=error)
