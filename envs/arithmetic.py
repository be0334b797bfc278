"""AgentR1/Arithmetic-v0: multi-step arithmetic word problems, with a calculator and a Python tool.

A second tool family on the same framework as the QA envs: every problem is a
short story whose answer takes two to four operations. The process rewards
pay a tool call that ran (`tool_success`) and each intermediate value of the
solution the first time a tool's result states it (`new_intermediate`): a
result that is that one number, so a flood of numbers earns nothing; the
outcome is exact match of the final number. The oracle computes one step per
turn with the calculator, then answers.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from agent_r1.envs.actions import Answer, ToolCall
from agent_r1.envs.contract import EpisodeEnd
from agent_r1.envs.rewards import COMPONENTS
from agent_r1.envs.tool_env import ToolEnv
from agent_r1.tools.base import Tool, ToolResult
from agent_r1.tools.calculator import CalculatorTool, format_number
from agent_r1.tools.sandbox import DEFAULT_ISOLATION

ARITHMETIC_COMPONENTS = {
    **{k: COMPONENTS[k] for k in ("format", "tool_error", "answer_em", "answer_f1")},
    "tool_success": "+1 for a tool call that ran without error",
    "new_intermediate": "+1 for a tool result that is one number, an intermediate value of the solution not stated before",
}
ARITHMETIC_PRESETS = {
    "outcome": {"answer_em": 1.0},
    "process": {"answer_em": 1.0, "format": 0.1, "tool_error": 0.05, "tool_success": 0.05, "new_intermediate": 0.1},
}
NAMES = ("Ada", "Bruno", "Chioma", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas", "Kenji", "Lena")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Problem:
    text: str
    steps: tuple[tuple[str, int], ...]  # (expression, value) in order; the last value is the answer

    @property
    def answer(self) -> int:
        return self.steps[-1][1]


def _packs(rng: np.random.Generator) -> Problem:
    name, packs, each = NAMES[rng.integers(len(NAMES))], int(rng.integers(12, 60)), int(rng.integers(6, 25))
    total = packs * each
    gone, friends = int(rng.integers(10, total // 2)), int(rng.integers(3, 10))
    left = total - gone
    return Problem(f"{name} buys {packs} packs of {each} stickers, gives away {gone} stickers, and shares the rest "
                   f"equally among {friends} friends, keeping the remainder. How many stickers does each friend get?",
                   ((f"{packs} * {each}", total), (f"{total} - {gone}", left), (f"{left} // {friends}", left // friends)))


def _savings(rng: np.random.Generator) -> Problem:
    name, start, daily, days = NAMES[rng.integers(len(NAMES))], int(rng.integers(20, 300)), int(rng.integers(5, 40)), int(rng.integers(4, 30))
    earned = daily * days
    spent = int(rng.integers(10, start + earned))
    return Problem(f"{name} has {start} coins, earns {daily} coins a day for {days} days, then spends {spent} coins. "
                   "How many coins are left?",
                   ((f"{daily} * {days}", earned), (f"{start} + {earned}", start + earned),
                    (f"{start + earned} - {spent}", start + earned - spent)))


def _fence(rng: np.random.Generator) -> Problem:
    width, length, gap = int(rng.integers(20, 200)), int(rng.integers(20, 200)), int(rng.integers(2, 9))
    half = width + length
    perimeter = 2 * half
    return Problem(f"A field is {width} m wide and {length} m long. A fence post stands every {gap} m along its "
                   "border, starting at a corner. How many posts are there (whole gaps only)?",
                   ((f"{width} + {length}", half), (f"2 * {half}", perimeter), (f"{perimeter} // {gap}", perimeter // gap)))


def _trip(rng: np.random.Generator) -> Problem:
    speed, hours, extra = int(rng.integers(40, 120)), int(rng.integers(2, 9)), int(rng.integers(10, 90))
    legs = int(rng.integers(2, 5))
    leg = speed * hours + extra
    return Problem(f"A bus drives at {speed} km per hour for {hours} hours and then {extra} km more. It makes the "
                   f"same trip {legs} times. How many kilometres does it drive in all?",
                   ((f"{speed} * {hours}", speed * hours), (f"{speed * hours} + {extra}", leg), (f"{leg} * {legs}", leg * legs)))


def _boxes(rng: np.random.Generator) -> Problem:
    rows, per_row, broken, box = int(rng.integers(5, 30)), int(rng.integers(8, 40)), int(rng.integers(1, 20)), int(rng.integers(6, 13))
    total = rows * per_row
    good = total - broken
    boxes = good // box
    price = int(rng.integers(3, 15))
    return Problem(f"An orchard has {rows} rows of {per_row} trees; each tree gives one crate of apples, but {broken} "
                   f"crates spoil. The rest are packed {box} crates to a pallet (full pallets only) and each pallet "
                   f"sells for {price} dollars. How many dollars does the orchard earn?",
                   ((f"{rows} * {per_row}", total), (f"{total} - {broken}", good), (f"{good} // {box}", boxes),
                    (f"{boxes} * {price}", boxes * price)))


TEMPLATES: tuple[Callable[[np.random.Generator], Problem], ...] = (_packs, _savings, _fence, _trip, _boxes)


class ArithmeticEnv(ToolEnv):
    reward_components = ARITHMETIC_COMPONENTS
    reward_presets = ARITHMETIC_PRESETS

    def __init__(self, *, tools: tuple[str, ...] = ("calculator", "python"), action_format: str = "tool_call",
                 max_turns: int = 6, python_isolation: str = DEFAULT_ISOLATION, **kwargs: Any) -> None:
        if action_format != "tool_call":
            raise ValueError("AgentR1/Arithmetic-v0 offers several tools, so it needs action_format='tool_call'")
        super().__init__(action_format=action_format, max_turns=max_turns, **kwargs)
        available: dict[str, Callable[[], Tool]] = {"calculator": CalculatorTool,
                                                    "python": lambda: _python_tool(python_isolation)}
        unknown = [t for t in tools if t not in available]
        if unknown or not tools:
            raise ValueError(f"tools must name some of {sorted(available)}, got {tools!r}")
        self._tools = {name: available[name]() for name in tools}
        self.problem: Problem | None = None
        self._seen: set[int] = set()

    @property
    def tools(self) -> Mapping[str, Tool]:
        return self._tools

    def _start_task(self, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        template = TEMPLATES[int(self.np_random.integers(len(TEMPLATES)))]
        self.problem = template(self.np_random)
        self._seen = set()
        info = {"task_id": f"{template.__name__.strip('_')}:{zlib.crc32(self.problem.text.encode()):08x}",
                "question": self.problem.text}
        return f"Problem: {self.problem.text}\nAnswer with the number only.", info

    def _interpret_tool_result(self, call: ToolCall, result: ToolResult) -> dict[str, float]:
        if not result.ok:
            return {}
        numbers = _NUMBER.findall(result.content)
        stated = float(numbers[0]) if len(numbers) == 1 else None  # a result, not a list to pick from
        new = {v for _, v in self.problem.steps if float(v) == stated and v not in self._seen}
        self._seen.update(new)
        components = {"tool_success": 1.0}
        if new:
            components["new_intermediate"] = float(len(new))
        return components

    def _finish(self, answer: str | None) -> EpisodeEnd:
        gold = format_number(self.problem.answer)
        numbers = _NUMBER.findall(answer or "")
        correct = float(len(numbers) == 1 and float(numbers[0]) == self.problem.answer)
        components = {"answer_em": correct, "answer_f1": correct}
        metrics = {"em": correct, "f1": correct, "intermediates_found": len(self._seen) / len({v for _, v in self.problem.steps})}
        return EpisodeEnd(components, metrics, {"gold_answer": gold, "prediction": answer})

    def oracle_action(self) -> str:
        done = sum(1 for m in self.messages if m["role"] == "assistant")
        if done < len(self.problem.steps) and "calculator" in self._tools:
            return self.parser.render(ToolCall("calculator", {"expression": self.problem.steps[done][0]}))
        if done < len(self.problem.steps):
            expression = self.problem.steps[done][0]
            return self.parser.render(ToolCall("python", {"code": f"print({expression})"}))
        return self.parser.render(Answer(format_number(self.problem.answer)))


def _python_tool(isolation: str) -> Tool:
    from agent_r1.tools.python import PythonTool  # its sandbox is checked when it is built, so only when asked for

    return PythonTool(isolation=isolation)
