"""PythonTool: runs model-written code in a sandbox and reports what it printed.

Each call is a fresh interpreter (`python -I -S`: no site-packages, no user
environment) in a kernel sandbox (tools/sandbox.py: bubblewrap namespaces, a
seccomp filter, rlimits, a wall-clock kill; the threat model is in
docs/sandbox.md). Its stdout and stderr go to unnamed files that the
file-size limit caps, so printing gigabytes stops at the limit and nothing is
left on disk. Everything that goes wrong comes back as a failed ToolResult.

Where no sandbox can run, the tool refuses to be built, unless the user asks
for `isolation="none"`: then the code runs as an ordinary process of this
user, with only the rlimits and the timeout, and a warning says so.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import tempfile
import warnings

from agent_r1.tools import sandbox
from agent_r1.tools.base import Tool, ToolResult
from agent_r1.tools.sandbox import DEFAULT_ISOLATION, ISOLATIONS, SandboxLimits, SandboxUnavailableError

__all__ = ["PythonTool", "SandboxLimits", "SandboxUnavailableError", "ISOLATIONS"]


def _limit(limits: SandboxLimits):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _read(stream, limit: int) -> tuple[str, bool]:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    data = stream.read(limit * 4 + 1)
    text = data.decode("utf-8", errors="replace")
    truncated = len(text) > limit or size > len(data)
    return (text[:limit] + f"\n... [output truncated; {size} bytes in all]") if truncated else text, truncated


def _kill(process: subprocess.Popen, sandbox_pid: int | None) -> None:
    """Ends the whole run: the sandbox's PID 1 takes its namespace along; the group catches the rest."""
    for pid, kill in ((sandbox_pid, os.kill), (process.pid, os.killpg)):
        if pid is not None:
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class PythonTool(Tool):
    name = "python"
    description = "Run a Python program and see what it prints. Each call starts fresh; print what you need."
    parameters = {
        "type": "object",
        "properties": {"code": {"type": "string", "description": "a complete Python program"}},
        "required": ["code"],
    }

    def __init__(self, limits: SandboxLimits = SandboxLimits(), *, isolation: str = DEFAULT_ISOLATION) -> None:
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
        if isolation == "bubblewrap" and (reason := sandbox.unavailable_reason()):
            raise SandboxUnavailableError(
                f"the python tool runs model code only in a sandbox, and none runs here ({reason}); "
                f"{sandbox.INSTALL_HINT}, or pass isolation='none' to run it unisolated at your own risk")
        if isolation == "none":
            warnings.warn("PythonTool(isolation='none') runs model-written code as an ordinary process of this user: "
                          "it can read your files and secrets and reach the network", stacklevel=2)
        self.limits, self.isolation = limits, isolation

    def run(self, code: str) -> ToolResult:
        python = sandbox.interpreter()
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            if self.isolation == "bubblewrap":
                process, sandbox_pid = sandbox.start([python, "-I", "-S", "main.py"], code, self.limits,
                                                     preexec_fn=_limit(self.limits), stdout=stdout, stderr=stderr)
            else:
                process, sandbox_pid = self._start_unisolated(python, code, stdout, stderr)
            timed_out = False
            try:
                process.wait(timeout=self.limits.wall_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill(process, sandbox_pid)
                process.wait()
            out, out_cut = _read(stdout, self.limits.output_chars)
            err, err_cut = _read(stderr, self.limits.output_chars)
        return self._result(process.returncode, timed_out, out, err, out_cut or err_cut)

    def _start_unisolated(self, python: str, code: str, stdout, stderr) -> tuple[subprocess.Popen, None]:
        # `python -` reads the whole program from stdin before it runs any of it.
        process = subprocess.Popen([python, "-I", "-S", "-"], stdin=subprocess.PIPE, stdout=stdout, stderr=stderr,
                                   env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, preexec_fn=_limit(self.limits),
                                   start_new_session=True)
        try:
            process.stdin.write(code.encode("utf-8", errors="surrogateescape"))
            process.stdin.close()
        except BrokenPipeError:
            pass
        return process, None

    def _result(self, returncode: int, timed_out: bool, out: str, err: str, truncated: bool) -> ToolResult:
        data = {"stdout": out, "stderr": err, "returncode": returncode, "timed_out": timed_out, "truncated": truncated}
        if timed_out:
            error = f"timed out after {self.limits.wall_seconds:g} s"
        elif returncode in (-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU, 128 + signal.SIGKILL):
            error = f"ran out of CPU time ({self.limits.cpu_seconds} s)"
        elif returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
            error = f"wrote more than {self.limits.file_bytes} bytes"
        elif returncode != 0:
            error = err.strip().splitlines()[-1] if err.strip() else f"exit status {returncode}"
        else:
            return ToolResult(content=out if out else "(no output)", data=data)
        content = "\n".join(part for part in (out.strip(), err.strip()[-self.limits.output_chars:], f"Error: {error}") if part)
        return ToolResult(content=content, ok=False, data=data, error=error)
