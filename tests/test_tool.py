import threading
import time

import pytest

from agent_r1.tools import Tool, ToolResult


class Echo(Tool):
    name = "echo"
    description = "Repeat a text n times."
    parameters = {
        "type": "object",
        "properties": {"text": {"type": "string"}, "times": {"type": "integer"}},
        "required": ["text"],
    }

    def run(self, text, times=1):
        return ToolResult(content=text * times, data={"length": len(text) * times})


class Broken(Tool):
    name = "broken"

    def run(self):
        raise ZeroDivisionError("division by zero")


class Sleepy(Tool):
    name = "sleepy"
    timeout = 0.2

    def __init__(self):
        self.release = threading.Event()

    def run(self):
        self.release.wait(10)
        return "woke up"


def test_schema_is_an_openai_function_tool():
    assert Echo().schema() == {
        "type": "function",
        "function": {"name": "echo", "description": "Repeat a text n times.", "parameters": Echo.parameters},
    }


def test_call_returns_the_result_and_structured_data():
    result = Echo()(text="ab", times=2)
    assert result == ToolResult(content="abab", ok=True, data={"length": 4}, error=None)


def test_a_plain_string_result_becomes_a_tool_result():
    class Plain(Tool):
        name = "plain"

        def run(self):
            return "hello"

    assert Plain()() == ToolResult(content="hello")


def test_tool_result_is_frozen():
    with pytest.raises(AttributeError):
        ToolResult(content="x").ok = False


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({}, "missing required argument(s) 'text'"),
        ({"text": "a", "color": "red"}, "unknown argument(s) 'color'"),
        ({"text": 3}, "argument 'text' of tool 'echo' must be of type string, got int"),
        ({"text": "a", "times": True}, "must be of type integer, got bool"),
    ],
)
def test_bad_arguments_give_a_failed_result(arguments, message):
    result = Echo()(**arguments)
    assert not result.ok
    assert message in result.error
    assert result.content.startswith("Error:")


def test_an_exception_becomes_a_failed_result():
    result = Broken()()
    assert not result.ok
    assert result.error == "tool 'broken' raised ZeroDivisionError: division by zero"


def test_a_hanging_tool_times_out_without_blocking_the_caller():
    tool = Sleepy()
    start = time.perf_counter()
    result = tool()
    elapsed = time.perf_counter() - start
    tool.release.set()
    assert not result.ok and "timed out after 0.2 s" in result.error
    assert elapsed < 2


def test_a_tool_returning_the_wrong_type_fails_clearly():
    class Wrong(Tool):
        name = "wrong"

        def run(self):
            return 42

    result = Wrong()()
    assert not result.ok and "returned int" in result.error
