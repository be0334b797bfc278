"""The Tool contract: an executor that runs one action and reports what happened.

A tool never decides what its result *means* for a task (that is the
environment's job); it only reports the raw output, whether it succeeded, and
structured data an environment may interpret (e.g. the ids of retrieved
passages). A tool that raises, rejects its arguments, or runs past its timeout
yields a failed `ToolResult` instead of an exception, so a misbehaving tool
can never take an environment down.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


@dataclass(frozen=True)
class ToolResult:
    """What a tool call produced.

    `content` is the text shown to the agent; `data` carries structured output
    for the environment (never shown verbatim); `error` is set when `ok` is False.
    """

    content: str
    ok: bool = True
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def failure(cls, error: str) -> "ToolResult":
        return cls(content=f"Error: {error}", ok=False, error=error)


class Tool:
    """Base class: subclasses set `name`, `description`, `parameters` and implement `run`.

    `parameters` is a JSON schema of type object, as in OpenAI function tools.
    `timeout` (seconds) bounds a call; None runs the tool inline (right for
    fast in-process tools, where a thread per call would cost more than the work).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}, "required": []}
    timeout: float | None = None

    def run(self, **arguments: Any) -> ToolResult | str:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool dict, usable as a chat template's `tools=` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def validate(self, arguments: Mapping[str, Any]) -> str | None:
        """Returns a readable reason when `arguments` do not fit `parameters`, else None."""
        properties = self.parameters.get("properties", {})
        missing = [p for p in self.parameters.get("required", []) if p not in arguments]
        if missing:
            return f"missing required argument(s) {', '.join(map(repr, missing))} for tool {self.name!r}"
        unknown = [a for a in arguments if a not in properties]
        if unknown:
            expected = ", ".join(map(repr, properties)) or "none"
            return f"unknown argument(s) {', '.join(map(repr, unknown))} for tool {self.name!r} (expected: {expected})"
        for key, value in arguments.items():
            expected_type = properties[key].get("type")
            python_types = _JSON_TYPES.get(expected_type)
            if python_types is None:
                continue
            wrong_bool = isinstance(value, bool) and expected_type in ("integer", "number")
            if not isinstance(value, python_types) or wrong_bool:
                return f"argument {key!r} of tool {self.name!r} must be of type {expected_type}, got {type(value).__name__}"
        return None

    def __call__(self, **arguments: Any) -> ToolResult:
        problem = self.validate(arguments)
        if problem is not None:
            return ToolResult.failure(problem)
        if self.timeout is None:
            return self._run_safely(arguments)
        return self._run_with_timeout(arguments, self.timeout)

    def _run_safely(self, arguments: Mapping[str, Any]) -> ToolResult:
        try:
            result = self.run(**arguments)
        except Exception as exc:  # a tool's bug must become an observation, not a crash
            return ToolResult.failure(f"tool {self.name!r} raised {type(exc).__name__}: {exc}")
        if isinstance(result, str):
            return ToolResult(content=result)
        if not isinstance(result, ToolResult):
            return ToolResult.failure(f"tool {self.name!r} returned {type(result).__name__}, not ToolResult or str")
        return result

    def _run_with_timeout(self, arguments: Mapping[str, Any], timeout: float) -> ToolResult:
        # A fresh daemon thread per call: a hung call must not hold a pool worker
        # that later calls wait for. Python cannot kill a thread, so a hung call
        # keeps running in the background; tools that must be killed (code
        # execution) run in a subprocess of their own.
        box: list[ToolResult] = []
        worker = threading.Thread(target=lambda: box.append(self._run_safely(arguments)), daemon=True)
        worker.start()
        worker.join(timeout)
        if not box:
            return ToolResult.failure(f"tool {self.name!r} timed out after {timeout:g} s")
        return box[0]
