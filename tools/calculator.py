"""CalculatorTool: evaluates one arithmetic expression, safely (no eval)."""

from __future__ import annotations

import ast
import math
import operator

from agent_r1.tools.base import Tool, ToolResult

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
MAX_EXPONENT = 64
MAX_MAGNITUDE = 10**30


def _real(number: int | float | complex) -> int | float:
    """The number, if it is a finite real one: a negative number to a fractional power is
    complex in Python, and 1e999 is inf, and neither is an answer to report as a success."""
    if isinstance(number, complex):
        raise ValueError("the result is not a real number")
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("the result is too large" if math.isinf(number) else "the result is not a number")
    return number


def evaluate(expression: str) -> int | float:
    """The real value of + - * / // % ** over numbers and parentheses; anything else is a ValueError."""
    if len(expression) > 500:
        raise ValueError("the expression is longer than 500 characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"cannot parse {expression!r} as arithmetic") from None

    def value(node: ast.AST) -> int | float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return _real(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
                raise ValueError(f"exponents above {MAX_EXPONENT} are not allowed")
            result = _real(_BINARY[type(node.op)](left, right))
            if abs(result) > MAX_MAGNITUDE:
                raise ValueError("the result is too large")
            return result
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](value(node.operand))
        raise ValueError(f"only numbers, + - * / // % ** and parentheses are allowed, not {ast.dump(node)[:40]}")

    try:
        result = value(tree.body)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:  # a float power past 1e308 raises instead of giving inf
        raise ValueError("the result is too large") from None
    return int(result) if isinstance(result, float) and result.is_integer() else result


def format_number(number: int | float) -> str:
    return str(number) if isinstance(number, int) else f"{number:.6g}"


class CalculatorTool(Tool):
    name = "calculator"
    description = "Evaluate an arithmetic expression: numbers, + - * / // % ** and parentheses."
    parameters = {
        "type": "object",
        "properties": {"expression": {"type": "string", "description": "e.g. (37 * 12 - 145) // 7"}},
        "required": ["expression"],
    }

    def run(self, expression: str) -> ToolResult:
        try:
            result = evaluate(expression)
        except ValueError as exc:
            return ToolResult.failure(str(exc))
        return ToolResult(content=format_number(result), data={"value": result})
