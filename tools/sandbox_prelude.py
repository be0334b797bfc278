"""Runs inside the sandbox process before the model's code (see tools/python.py).

It installs a PEP 578 audit hook, which no later Python code can remove, that
refuses what the sandbox forbids: new processes (a fork bomb stops at its
first fork), sockets, native code through ctypes, and any file write, rename
or removal outside the working directory. The resource limits set by the
parent (memory, CPU, file size, open files) bound what the hook cannot see.
This file is executed as a script; it imports only the standard library.
"""

import os
import sys
import traceback

_HOME = os.path.realpath(os.getcwd())
_BLOCKED = ("os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.kill", "os.killpg",
            "subprocess.Popen", "pty.spawn", "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo",
            "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function", "_posixsubprocess.fork_exec",
            "resource.setrlimit", "sys.addaudithook", "os.chdir", "mmap.__new__")
_PATH_EVENTS = {"os.remove": 0, "os.rmdir": 0, "os.rename": (0, 1), "os.replace": (0, 1), "os.mkdir": 0, "os.chmod": 0,
                "os.chown": 0, "os.link": (0, 1), "os.symlink": (0, 1), "os.truncate": 0, "os.utime": 0, "shutil.rmtree": 0}


def _inside(path) -> bool:
    if isinstance(path, int):  # a file descriptor already opened under these rules
        return True
    real = os.path.realpath(os.fsdecode(path))
    return real == _HOME or real.startswith(_HOME + os.sep)


def _hook(event, args):
    if event in _BLOCKED or event.startswith("os.exec"):
        raise PermissionError(f"the sandbox forbids {event}")
    if event == "open":
        path, mode, flags = args
        writing = (mode is not None and any(c in mode for c in "wax+")) or (flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writing and path is not None and not _inside(path):
            raise PermissionError(f"the sandbox allows writing only inside its working directory, not {path}")
    elif event in _PATH_EVENTS:
        positions = _PATH_EVENTS[event]
        for position in positions if isinstance(positions, tuple) else (positions,):
            if position < len(args) and args[position] is not None and not _inside(args[position]):
                raise PermissionError(f"the sandbox allows {event} only inside its working directory")


def main() -> None:
    source_path = sys.argv[1]
    with open(source_path) as f:
        source = f.read()
    try:
        code = compile(source, "<code>", "exec")
    except SyntaxError as exc:
        traceback.print_exception(type(exc), exc, None)
        sys.exit(1)
    sys.argv = ["<code>"]
    sys.addaudithook(_hook)
    try:
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    except SystemExit:
        raise
    except BaseException as exc:  # the traceback of the model's code only, not of this prelude
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        sys.exit(1)


if __name__ == "__main__":
    main()
