"""The Python tool's sandbox against hostile code: each case is contained and reported, and the machine goes on."""

import os
import time

import pytest

from agent_r1.tools.python import PythonTool, SandboxLimits

TOOL = PythonTool(SandboxLimits(wall_seconds=3, cpu_seconds=2))


def run(code):
    started = time.monotonic()
    result = TOOL(code=code)
    assert time.monotonic() - started < 10, "the sandbox did not stop the code in time"
    return result


def test_ordinary_code_runs_and_writes_in_its_own_folder():
    result = run("open('notes.txt', 'w').write('42')\nprint(int(open('notes.txt').read()) + 1)")
    assert result.ok and result.content == "43\n" and result.data["returncode"] == 0


def test_each_call_starts_fresh_in_a_private_folder():
    first = run("import os; open('mark', 'w').write('x'); print(os.getcwd())")
    second = run("import os; print(os.path.exists('mark'), os.getcwd())")
    assert second.content.startswith("False") and first.content.strip() != second.content.split()[1]
    assert not os.path.exists(first.content.strip())  # removed after the call


@pytest.mark.parametrize("name, code, reason", [
    ("infinite loop", "while True: pass", "CPU time"),
    ("sleeper", "import time; time.sleep(60)", "timed out"),
    ("memory bomb", "blocks = []\nwhile True: blocks.append(bytearray(50 * 2**20))", "MemoryError"),
    ("fork bomb", "import os\nwhile True: os.fork()", "forbids os.fork"),
    ("subprocess", "import subprocess; subprocess.run(['sh', '-c', 'echo hi'])", "forbids subprocess.Popen"),
    ("shell", "import os; os.system('echo hi')", "forbids os.system"),
    ("write outside", "open('/tmp/agent_r1_escape.txt', 'w').write('x')", "only inside its working directory"),
    ("delete outside", "import os; os.remove('/etc/hostname')", "only inside its working directory"),
    ("socket", "import socket; socket.create_connection(('127.0.0.1', 80), timeout=1)", "forbids socket"),
    ("ctypes", "import ctypes; ctypes.CDLL(None).system(b'echo hi')", "forbids ctypes"),
    ("printing gigabytes", "import sys\nwhile True: sys.stdout.write('x' * 2**20)", "File too large"),
    ("syntax error", "def (", "SyntaxError"),
])
def test_hostile_code_is_contained_and_reported(name, code, reason):
    result = run(code)
    assert not result.ok, name
    assert reason in result.error or reason in result.content, (name, result.error, result.content[-300:])
    assert len(result.content) < 5000  # output is truncated before it reaches the agent
    assert not os.path.exists("/tmp/agent_r1_escape.txt")
    assert run("print('still here')").content == "still here\n"


def test_the_tool_inside_an_env_step():
    import gymnasium as gym

    import agent_r1.envs  # noqa: F401

    env = gym.make("AgentR1/Arithmetic-v0", tools=("python",), reward="process")
    env.reset(seed=0)
    bomb = '<tool_call>{"name": "python", "arguments": {"code": "import os\\nwhile True: os.fork()"}}</tool_call>'
    observation, reward, terminated, truncated, info = env.step(bomb)
    assert "forbids os.fork" in observation and info["reward_components"] == {"tool_error": -1.0}
    assert reward == pytest.approx(-0.05) and not terminated
