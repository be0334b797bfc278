"""Kernel isolation for untrusted code: bubblewrap namespaces, a seccomp filter, rlimits and a kill.

Model-written code is hostile by assumption: a policy under RL searches for
whatever raises its reward. So the isolation is the kernel's, not Python's
(an in-process audit hook is state the code itself can rewrite). Each run is a
`bwrap` (bubblewrap, the sandbox Flatpak uses) process with
- new user, PID, mount, network, IPC, UTS and cgroup namespaces: no network
  device but its own loopback, no view of any other process, no capabilities,
  no nested user namespaces, and a fresh session (no terminal to inject into);
- a root file system of its own: /usr and the interpreter's installation
  read-only, a private /proc and minimal /dev, and one writable folder, a
  size-limited tmpfs that vanishes with the sandbox, so nothing lands on disk;
- a seccomp filter (built with libseccomp) that refuses new processes (threads
  stay possible), sockets other than Unix ones, ptrace and cross-process
  memory access, mounts, keyrings, BPF, perf, io_uring, kernel modules and the
  like;
- rlimits (CPU seconds, address space, file size, open files, no core dumps);
- a wall-clock deadline, after which the sandbox's PID 1 is killed, which
  takes every process of the namespace with it before the call returns.
docs/sandbox.md gives the threat model: what this contains and what it does not.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

ISOLATIONS = ("bubblewrap", "none")  # "none" runs model code as an ordinary process: an explicit, unsafe choice
DEFAULT_ISOLATION = ISOLATIONS[0]
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; make does it where it can)"


class SandboxUnavailableError(RuntimeError):
    """The kernel isolation cannot run on this machine."""


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float = 5.0
    cpu_seconds: int = 5
    memory_bytes: int = 512 * 2**20  # address space of each process
    file_bytes: int = 4 * 2**20  # any one file the code writes, its captured output included
    disk_bytes: int = 16 * 2**20  # the writable folder (a tmpfs) in all
    open_files: int = 64
    output_chars: int = 2000  # shown to the agent, per stream


WORKDIR = "/work"


def _denied_syscalls() -> list[tuple[int, str, tuple]]:
    """(errno, syscall, argument conditions) for the seccomp filter."""
    import pyseccomp as sc

    refuse = ["ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot",
              "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
              "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at", "name_to_handle_at",
              "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
              "swapoff", "syslog", "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "quotactl",
              "iopl", "ioperm", "fanotify_init", "lookup_dcookie", "fork", "vfork", "personality",
              "mount_setattr", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick"]
    rules = [(errno.EPERM, name, ()) for name in refuse]
    clone_thread, af_unix, tiocsti = 0x10000, 1, 0x5412
    rules += [
        (errno.EPERM, "clone", (sc.Arg(0, sc.MASKED_EQ, clone_thread, 0),)),  # a new process, not a thread
        (errno.ENOSYS, "clone3", ()),  # its flags sit behind a pointer; libc falls back to clone
        (errno.EAFNOSUPPORT, "socket", (sc.Arg(0, sc.NE, af_unix),)),
        (errno.EPERM, "ioctl", (sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, tiocsti),)),
    ]
    return rules


@functools.cache
def seccomp_program() -> bytes:
    """The filter as BPF bytes, for `bwrap --seccomp FD`."""
    try:
        import pyseccomp as sc

        syscall_filter = sc.SyscallFilter(defaction=sc.ALLOW)
    except (ImportError, OSError, RuntimeError) as exc:
        raise SandboxUnavailableError(f"the seccomp filter needs libseccomp and pyseccomp: {exc}") from None
    for code, name, conditions in _denied_syscalls():
        try:
            syscall_filter.add_rule(sc.ERRNO(code), name, *conditions)
        except (ValueError, RuntimeError, OSError):  # not a system call on this architecture
            continue
    with os.fdopen(os.memfd_create("seccomp"), "w+b") as f:
        syscall_filter.export_bpf(f)
        f.seek(0)
        return f.read()


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)  # not close-on-exec: bwrap reads it
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _root_filesystem() -> list[str]:
    """/usr and the interpreter's installation, read-only; /bin, /lib... as on the host (links or binds)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    prefix = os.path.realpath(sys.base_prefix)
    if not prefix.startswith("/usr/"):
        args += ["--ro-bind", prefix, prefix]
    return args


def interpreter() -> str:
    """The Python that runs inside: this one's base interpreter (a venv's python is a link to it)."""
    return os.path.realpath(sys.executable)


def bwrap_command(program: list[str], limits: SandboxLimits, *, code_fd: int, seccomp_fd: int, info_fd: int) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailableError(f"no bwrap on PATH: {INSTALL_HINT}")
    return [
        bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534",
        "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", "sandbox",
        *_root_filesystem(), "--proc", "/proc", "--dev", "/dev",
        "--size", str(limits.disk_bytes), "--tmpfs", WORKDIR, "--file", str(code_fd), f"{WORKDIR}/main.py",
        "--chdir", WORKDIR, "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", WORKDIR,
        "--setenv", "TMPDIR", WORKDIR, "--setenv", "LANG", "C.UTF-8",
        "--seccomp", str(seccomp_fd), "--info-fd", str(info_fd), "--", *program,
    ]


def start(program: list[str], code: str, limits: SandboxLimits, *, preexec_fn, stdout, stderr) -> tuple[subprocess.Popen, int | None]:
    """Starts `program` (which reads ./main.py) in the sandbox: (the bwrap process, the host pid of its PID 1)."""
    code_fd = _memfd("main.py", code.encode("utf-8", errors="surrogateescape"))
    seccomp_fd = _memfd("seccomp", seccomp_program())
    info_read, info_write = os.pipe()
    fds = (code_fd, seccomp_fd, info_write)
    try:
        command = bwrap_command(program, limits, code_fd=code_fd, seccomp_fd=seccomp_fd, info_fd=info_write)
        # An empty environment: bwrap stays PID 1 inside, and the code can read its /proc/1/environ.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env={},
                                   preexec_fn=preexec_fn, pass_fds=fds, start_new_session=True)
    finally:
        for fd in fds:
            os.close(fd)
    with os.fdopen(info_read, "rb") as info:  # bwrap writes it once the sandbox is set up; EOF if it failed
        raw = info.read()
    try:
        return process, int(json.loads(raw)["child-pid"])
    except (ValueError, KeyError, TypeError):
        return process, None


@functools.cache
def unavailable_reason() -> str | None:
    """None where a sandbox starts and runs Python here; else why not (checked once per process)."""
    import tempfile

    try:
        with tempfile.TemporaryFile() as out:
            process, _ = start([interpreter(), "-I", "-S", "main.py"], "print('ok')", SandboxLimits(),
                               preexec_fn=None, stdout=out, stderr=subprocess.STDOUT)
            process.wait(timeout=30)
            out.seek(0)
            text = out.read().decode(errors="replace").strip()
    except (SandboxUnavailableError, OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if text == "ok" else f"bwrap could not start a sandbox here: {text[-500:]}"
