"""Parsing the agent's text into one action, in a pluggable protocol.

Two protocols ship: Search-R1 tags (`<search>q</search>`, `<answer>a</answer>`)
and Hermes/Qwen tool calls (`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`,
answers still in `<answer>` tags). A parser only reads text: whether the tool
exists and takes those arguments is the environment's check. Every failure
comes back as an `InvalidAction` whose message tells the agent what a valid
action looks like.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

_MAX_QUOTE = 80


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    text: str


@dataclass(frozen=True)
class InvalidAction:
    error: str


ParsedAction = Union[ToolCall, Answer, InvalidAction]


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= _MAX_QUOTE else text[:_MAX_QUOTE] + "...")


class ActionParser:
    """Base of the protocols. `observation_role` is the chat role that carries tool output back."""

    name = ""
    observation_role = "user"
    # The closing tags that end a turn: generation stops at the first one (and keeps it), as the action is complete.
    stop: tuple[str, ...] = ()

    def parse(self, text: str) -> ParsedAction:
        raise NotImplementedError

    def render(self, action: ToolCall | Answer) -> str:
        """The text of a well-formed action (what an oracle writes)."""
        raise NotImplementedError

    def instructions(self, tool_schemas: Sequence[dict]) -> str:
        """How to act, to put in front of the task in the first message."""
        raise NotImplementedError

    def format_observation(self, content: str) -> str:
        return content

    def invalid(self, problem: str) -> InvalidAction:
        return InvalidAction(f"{problem}. {self.usage}")

    @property
    def usage(self) -> str:
        raise NotImplementedError

    def _find_tags(self, text: str, tags: Sequence[str]) -> list[tuple[str, str]] | InvalidAction:
        """All complete <tag>...</tag> spans outside <think> blocks, in order."""
        text = _without_thinking(text)
        spans = _complete_spans(text, tags)
        if not spans:
            opened = [tag for tag in tags if f"<{tag}>" in text]
            if opened:
                return self.invalid(f"the <{opened[0]}> tag is never closed with </{opened[0]}>")
            return self.invalid("no action found")
        if len(spans) > 1:
            names = ", ".join(f"<{tag}>" for tag, _ in spans)
            return self.invalid(f"found {len(spans)} actions ({names}); write exactly one per turn")
        tag, body = spans[0]
        nested = [t for t in tags if f"<{t}>" in body or f"</{t}>" in body]
        if nested:
            return self.invalid(f"tags cannot be nested (<{nested[0]}> inside <{tag}>)")
        return spans


# The two scanners below do what the regular expressions `<think>.*?</think>` and
# `<(tag)>(.*?)</\1>` did, in time linear in the text: the expressions tried, at
# every unclosed opening tag, every later position for a closing one, so an
# action of n unclosed tags took time n squared (35 s for 20,000 of them).


def _without_thinking(text: str) -> str:
    """The text with each complete <think>...</think> block replaced by a space."""
    kept, position = [], 0
    while (start := text.find("<think>", position)) >= 0:
        end = text.find("</think>", start + len("<think>"))
        if end < 0:  # no later <think> can be closed either
            break
        kept += [text[position:start], " "]
        position = end + len("</think>")
    kept.append(text[position:])
    return "".join(kept)


def _complete_spans(text: str, tags: Sequence[str]) -> list[tuple[str, str]]:
    """(tag, body) of each <tag>body</tag>, leftmost first, each closed by the first closing tag after it."""
    opening = re.compile("<(%s)>" % "|".join(map(re.escape, tags)))
    # An opening tag after the last closing tag of its kind is skipped without a scan.
    last_closing = {tag: text.rfind(f"</{tag}>") for tag in tags}
    spans, position = [], 0
    while (match := opening.search(text, position)) is not None:
        tag = match.group(1)
        if last_closing[tag] < match.end():
            position = match.start() + 1
            continue
        end = text.find(f"</{tag}>", match.end())
        spans.append((tag, text[match.end():end]))
        position = end + len(f"</{tag}>")
    return spans


class SearchR1Parser(ActionParser):
    """`<search>query</search>` calls the search tool; `<answer>text</answer>` ends the episode."""

    name = "search_r1"
    observation_role = "user"
    stop = ("</search>", "</answer>")
    usage = "A valid action is exactly one of <search> your query </search> or <answer> your answer </answer>."

    def parse(self, text: str) -> ParsedAction:
        spans = self._find_tags(text, ("search", "answer"))
        if isinstance(spans, InvalidAction):
            return spans
        tag, body = spans[0]
        body = body.strip()
        if not body:
            return self.invalid(f"the <{tag}> tag is empty")
        if tag == "answer":
            return Answer(body)
        return ToolCall("search", {"query": body})

    def render(self, action: ToolCall | Answer) -> str:
        if isinstance(action, Answer):
            return f"<answer> {action.text} </answer>"
        if action.name != "search" or set(action.arguments) != {"query"}:
            raise ValueError(f"the Search-R1 protocol has only the search tool with a query, not {action}")
        return f"<search> {action.arguments['query']} </search>"

    def instructions(self, tool_schemas: Sequence[dict]) -> str:
        return (
            "Answer the question. To look something up, write <search> query </search>; "
            "the results come back between <information> and </information>. "
            "Search as often as you need, one search per turn. When you know the answer, "
            "write it between <answer> and </answer>, without explanation, e.g. <answer> Paris </answer>."
        )

    def format_observation(self, content: str) -> str:
        return f"<information>{content}</information>"


class ToolCallParser(ActionParser):
    """Hermes/Qwen-style JSON tool calls; the tools are offered through the chat template's `tools=`."""

    name = "tool_call"
    observation_role = "tool"
    stop = ("</tool_call>", "</answer>")
    usage = (
        'A valid action is exactly one of <tool_call>{"name": "search", "arguments": {"query": "your query"}}</tool_call> '
        "or <answer> your answer </answer>."
    )

    def parse(self, text: str) -> ParsedAction:
        spans = self._find_tags(text, ("tool_call", "answer"))
        if isinstance(spans, InvalidAction):
            return spans
        tag, body = spans[0]
        if tag == "answer":
            body = body.strip()
            return Answer(body) if body else self.invalid("the <answer> tag is empty")
        call, problem = _load_json(body)
        if problem is not None:
            return self.invalid(f"the tool call is not valid JSON ({problem}): {_quote(body)}")
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return self.invalid('the tool call must be a JSON object with a string "name"')
        arguments = call.get("arguments", {})
        if isinstance(arguments, str):  # some models emit the arguments as a JSON string
            arguments, problem = _load_json(arguments)
            if problem is not None:
                return self.invalid(f'"arguments" is a string that is not JSON ({problem}): {_quote(call["arguments"])}')
        if not isinstance(arguments, dict):
            return self.invalid('"arguments" must be a JSON object')
        return ToolCall(call["name"], arguments)

    def render(self, action: ToolCall | Answer) -> str:
        if isinstance(action, Answer):
            return f"<answer> {action.text} </answer>"
        payload = json.dumps({"name": action.name, "arguments": action.arguments}, ensure_ascii=False)
        return f"<tool_call>\n{payload}\n</tool_call>"

    def instructions(self, tool_schemas: Sequence[dict]) -> str:
        names = ", ".join(schema["function"]["name"] for schema in tool_schemas)
        return (
            f"Answer the question. You can call these tools: {names}. Call one tool per turn as "
            '<tool_call>{"name": ..., "arguments": {...}}</tool_call>; its result comes back to you. '
            "When you know the answer, write it between <answer> and </answer>, without explanation, "
            "e.g. <answer> Paris </answer>."
        )


def _load_json(text: str) -> tuple[Any, str | None]:
    """(value, None) for JSON text, else (None, why not): every way `json.loads` fails is an answer, not a raise."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, exc.msg
    except RecursionError:
        return None, "nested too deeply"
    except ValueError:  # Python refuses to read an integer of more than 4,300 digits
        return None, "a number has too many digits"


PARSERS: dict[str, type[ActionParser]] = {SearchR1Parser.name: SearchR1Parser, ToolCallParser.name: ToolCallParser}
# Every protocol's stop strings: what a generator stops at when one batch may hold episodes of either protocol.
STOP_STRINGS = tuple(dict.fromkeys(stop for parser in PARSERS.values() for stop in parser.stop))


def resolve_parser(parser: str | ActionParser) -> ActionParser:
    if isinstance(parser, ActionParser):
        return parser
    try:
        return PARSERS[parser]()
    except KeyError:
        raise ValueError(f"unknown action format {parser!r}; choose one of {sorted(PARSERS)}") from None
