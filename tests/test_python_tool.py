"""The Python tool's sandbox against an attacker: each attempt is judged from outside the sandbox.

What the code may try is anything; what must hold is seen from here: no file
outside, no secret in its output, this process alive with its limits
unchanged, no connection reaching a listener, no process left, nothing left
on disk, and each call back within its deadline. docs/sandbox.md gives the
threat model.
"""

import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from agent_r1.tools import sandbox
from agent_r1.tools.python import PythonTool, SandboxLimits, SandboxUnavailableError

LIMITS = SandboxLimits(wall_seconds=3, cpu_seconds=2)
CANARY = "agent-r1-canary-5f1e"


@pytest.fixture(scope="module")
def tool():
    reason = sandbox.unavailable_reason()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the sandbox tests, but no sandbox runs: {reason}")
    if reason:
        pytest.skip(f"no sandbox here: {reason}")
    return PythonTool(LIMITS)


def _sandbox_processes() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and (argv[0].endswith(b"bwrap") or b"main.py" in argv[-2:]):
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


@pytest.fixture
def run(tool, monkeypatch, tmp_path_factory):
    """Runs code; afterwards checks what every call must leave behind: nothing."""
    monkeypatch.setenv("AGENT_R1_SECRET", CANARY)  # what a trainer's API key looks like from the sandbox
    limits = resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_NOFILE)
    # The tool's own temporary files go to a folder of this test's: in the shared /tmp, another program's new file
    # (a training run's, beside the suite) once read as the call's.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("host-temp")))
    temp_before = set(os.listdir(tempfile.gettempdir()))

    def call(code):
        started = time.monotonic()
        result = tool(code=code)
        assert time.monotonic() - started < LIMITS.wall_seconds + 3, "the call outlived its deadline"
        assert CANARY not in result.content
        return result

    yield call
    assert _sandbox_processes() == [], "a process outlived the call"
    assert (resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_NOFILE)) == limits
    assert set(os.listdir(tempfile.gettempdir())) - temp_before == set(), "the call left files behind"


def test_ordinary_code_runs_and_writes_in_its_own_folder(run):
    result = run("open('notes.txt', 'w').write('42')\nprint(int(open('notes.txt').read()) + 1)")
    assert result.ok and result.content == "43\n" and result.data["returncode"] == 0


def test_threads_work_and_each_call_starts_fresh(run):
    run("open('mark', 'w').write('x')")
    result = run("import os, threading\nt = threading.Thread(target=print, args=(os.path.exists('mark'),))\n"
                 "t.start(); t.join()")
    assert result.ok and result.content == "False\n"


# Each attempt, and what its output shows where the kernel refused it.
ATTACKS = {
    "the old audit hook, disarmed": (
        "import sys; m = sys.modules['__main__']; m._BLOCKED = (); m._PATH_EVENTS = {}\n"
        "import os; print('status', os.system('id'))", "status 32512"),  # glibc's word for: no shell started
    "a process without an audit event": (
        "import _posixsubprocess, os\n"
        "_posixsubprocess.fork_exec([b'/bin/sh', b'-c', b'touch {out}'], [b'/bin/sh'], True, (), None, None,"
        " -1, -1, -1, -1, -1, -1, *os.pipe(), False, False, -1, None, None, None, -1, None, False)",
        "Operation not permitted"),
    "native code through ctypes": (
        "import ctypes; print(ctypes.CDLL(None).system(b'touch {out}'))", ""),
    "native fork through ctypes": (
        "import ctypes; print('fork', ctypes.CDLL(None).fork())", "fork -1"),
    "a fork bomb": ("import os\nwhile True: os.fork()", "Operation not permitted"),
    "a setsid child": ("import os\nif os.fork() == 0:\n    os.setsid(); import time; time.sleep(60)", "Operation not permitted"),
    "the parent's environment": (
        "import os\nfor pid in [os.getppid(), 1, 2, 3]:\n"
        "    try: print(open(f'/proc/{pid}/environ', 'rb').read())\n    except OSError as e: print(e)\n"
        "print(os.environ)", ""),
    "every process's memory and environment": (
        "import os\nfound = []\nfor pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    for f in ('environ', 'cmdline', 'mem'):\n"
        "        try: data = open(f'/proc/{pid}/{f}', 'rb').read(1 << 20)\n        except OSError as e: continue\n"
        "        at = data.find(b'SECRET')\n        found += [data[at:at + 80]] if at >= 0 else []\n"
        "print('found', found)", "found []"),
    "ptrace": ("import ctypes; print('ptrace', ctypes.CDLL(None).ptrace(16, {parent}, 0, 0))", "ptrace -1"),
    "process_vm_readv": ("import ctypes; print('vm', ctypes.CDLL(None).syscall(310, {parent}, 0, 0, 0, 0, 0))", "vm -1"),
    "kill the parent": ("import os, signal; os.kill({parent}, signal.SIGKILL)", "No such process"),
    "kill the parent by pidfd": ("import os, signal; signal.pidfd_send_signal(os.pidfd_open({parent}), 9)", "No such process"),
    "kill everything": ("import os; os.kill(-1, 9); print('alive')", ""),
    "cripple the parent's limits": (
        "import resource; resource.prlimit({parent}, resource.RLIMIT_AS, (1 << 20, 1 << 20))", "No such process"),
    "write outside": ("open('{out}', 'w').write('x')", "No such file or directory"),
    "write into the interpreter": ("import sys; open(sys.base_prefix + '/agent_r1_probe', 'w')", "Read-only file system"),
    "write with dir_fd": (
        "import os\nfd = os.open('{outdir}', os.O_RDONLY)\n"
        "open('probe', 'w', opener=lambda p, f: os.open(p, f, dir_fd=fd))", "No such file or directory"),
    "mkdir, symlink, fifo outside": (
        "import os\nfor f in (lambda: os.mkdir('{out}'), lambda: os.symlink('/', '{out}'), lambda: os.mkfifo('{out}')):\n"
        "    try: f()\n    except OSError as e: print(e)", "No such file or directory"),
    "sqlite outside": ("import sqlite3; sqlite3.connect('{out}').execute('create table t(x)')", "unable to open"),
    "mount": ("import ctypes; print('mount', ctypes.CDLL(None).mount(b'none', b'/usr', b'tmpfs', 0, None))", "mount -1"),
    "a new user namespace": ("import ctypes; print('unshare', ctypes.CDLL(None).unshare(0x10000000))", "unshare -1"),
    "a network connection": ("import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1)",
                             "Address family not supported"),
    "an abstract unix socket": (
        "import socket; s = socket.socket(socket.AF_UNIX); s.connect('\\0{abstract}')", "Connection refused"),
    "a disk leak": ("import os\nos.makedirs('/'.join(['d'] * 1200), exist_ok=True)\n"
                    "open('fill', 'wb').write(b'x' * (4 * 2**20 - 1))\nprint('done')", ""),
    "filling the folder": ("for i in range(100): open(f'f{i}', 'wb').write(b'x' * 2**20)", "No space left on device"),
    "an infinite loop": ("while True: pass", "CPU time"),
    "a sleeper": ("import time; time.sleep(60)", "timed out"),
    "a memory bomb": ("blocks = []\nwhile True: blocks.append(bytearray(50 * 2**20))", "MemoryError"),
    "printing gigabytes": ("import sys\nwhile True: sys.stdout.write('x' * 2**20)", "File too large"),
    "a syntax error": ("def (", "SyntaxError"),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_is_contained(run, name, tmp_path):
    code, shown = ATTACKS[name]
    out = tmp_path / "escaped"
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0agent-r1-probe-{os.getpid()}")
    abstract.listen()
    abstract.setblocking(False)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        values = {"out": out, "outdir": tmp_path, "parent": os.getpid(), "port": listener.getsockname()[1],
                  "abstract": f"agent-r1-probe-{os.getpid()}"}
        for key, value in values.items():  # not str.format: the attacks' own f-strings keep their braces
            code = code.replace("{" + key + "}", str(value))
        result = run(code)
        assert shown in result.content, result.content[-500:]
        assert not out.exists() and list(tmp_path.iterdir()) == []
        assert not Path(sys.base_prefix, "agent_r1_probe").exists()
        for server in (listener, abstract):
            with pytest.raises(BlockingIOError):
                server.accept()
        assert bystander.poll() is None, "a process outside the sandbox was killed"
        assert len(result.content) < 3 * LIMITS.output_chars  # output is cut before it reaches the agent
    finally:
        bystander.kill()
        bystander.wait()
        listener.close()
        abstract.close()
    assert run("print('still here')").content == "still here\n"


def test_the_tool_refuses_to_run_without_a_sandbox(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    sandbox.unavailable_reason.cache_clear()
    try:
        with pytest.raises(SandboxUnavailableError, match="bubblewrap.*isolation='none'"):
            PythonTool()
        with pytest.warns(UserWarning, match="unisolated|ordinary process"):
            unsafe = PythonTool(LIMITS, isolation="none")
        assert unsafe(code="print(6 * 7)").content == "42\n"
        assert "timed out" in unsafe(code="import time; time.sleep(60)").error
    finally:
        sandbox.unavailable_reason.cache_clear()


def test_the_tool_inside_an_env_step(tool):
    import gymnasium as gym

    import agent_r1.envs  # noqa: F401

    env = gym.make("AgentR1/Arithmetic-v0", tools=("python",), reward="process")
    env.reset(seed=0)
    bomb = '<tool_call>{"name": "python", "arguments": {"code": "import os\\nwhile True: os.fork()"}}</tool_call>'
    observation, reward, terminated, truncated, info = env.step(bomb)
    assert "Operation not permitted" in observation and info["reward_components"] == {"tool_error": -1.0}
    assert reward == pytest.approx(-0.05) and not terminated
