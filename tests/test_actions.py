import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_r1.envs.actions import (Answer, InvalidAction, SearchR1Parser, ToolCall, ToolCallParser, _complete_spans,
                                   _without_thinking, resolve_parser)
from conftest import cpu_seconds

search_r1 = SearchR1Parser()
tool_call = ToolCallParser()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<search> Zorba the Greek director </search>", ToolCall("search", {"query": "Zorba the Greek director"})),
        ("I should look it up. <search>Tarskmere</search>", ToolCall("search", {"query": "Tarskmere"})),
        ("<answer> Orvania </answer>", Answer("Orvania")),
        ("<think>maybe <search>x</search>? no</think><answer>1921</answer>", Answer("1921")),
        ("<search>multi\nline</search>", ToolCall("search", {"query": "multi\nline"})),
    ],
)
def test_search_r1_valid_actions(text, expected):
    assert search_r1.parse(text) == expected


@pytest.mark.parametrize(
    "text, problem",
    [
        ("I think the answer is Paris.", "no action found"),
        ("", "no action found"),
        ("<search>a</search><search>b</search>", "found 2 actions"),
        ("<search>a</search> then <answer>b</answer>", "found 2 actions"),
        ("<search>unfinished", "the <search> tag is never closed"),
        ("<search>  </search>", "the <search> tag is empty"),
        ("<answer></answer>", "the <answer> tag is empty"),
        ("<search><answer>x</answer></search>", "tags cannot be nested"),
        ("<search>a <search>b</search>", "tags cannot be nested"),
    ],
)
def test_search_r1_malformed_actions_say_what_a_valid_action_is(text, problem):
    parsed = search_r1.parse(text)
    assert isinstance(parsed, InvalidAction)
    assert problem in parsed.error
    assert "<search> your query </search>" in parsed.error and "<answer>" in parsed.error


def test_tool_call_valid_actions():
    text = 'Let me search.\n<tool_call>\n{"name": "search", "arguments": {"query": "Orvania"}}\n</tool_call>'
    assert tool_call.parse(text) == ToolCall("search", {"query": "Orvania"})
    # Arguments given as a JSON string, as some models write them.
    text = '<tool_call>{"name": "search", "arguments": "{\\"query\\": \\"x\\"}"}</tool_call>'
    assert tool_call.parse(text) == ToolCall("search", {"query": "x"})
    assert tool_call.parse("<answer>Orvania</answer>") == Answer("Orvania")


@pytest.mark.parametrize(
    "text, problem",
    [
        ('<tool_call>{"name": "search", "arguments": {"query": </tool_call>', "not valid JSON"),
        ('<tool_call>["search"]</tool_call>', 'a JSON object with a string "name"'),
        ('<tool_call>{"arguments": {}}</tool_call>', 'a JSON object with a string "name"'),
        ('<tool_call>{"name": "search", "arguments": [1]}</tool_call>', '"arguments" must be a JSON object'),
        ('<tool_call>{"name": "search", "arguments": "{oops"}</tool_call>', "is a string that is not JSON"),
        ('<tool_call>{"name": "a"}</tool_call><tool_call>{"name": "b"}</tool_call>', "found 2 actions"),
        ('<tool_call>' + "[" * 100000 + '</tool_call>', "not valid JSON"),
        ("plain text", "no action found"),
    ],
)
def test_tool_call_malformed_actions(text, problem):
    parsed = tool_call.parse(text)
    assert isinstance(parsed, InvalidAction)
    assert problem in parsed.error
    assert "<tool_call>" in parsed.error


@pytest.mark.parametrize("parser", [search_r1, tool_call])
def test_render_parses_back(parser):
    for action in (ToolCall("search", {"query": "Zorvan Quist"}), Answer("1921")):
        assert parser.parse(parser.render(action)) == action


def test_search_r1_cannot_render_other_tools():
    with pytest.raises(ValueError):
        search_r1.render(ToolCall("python", {"code": "1"}))


def test_resolve_parser():
    assert isinstance(resolve_parser("tool_call"), ToolCallParser)
    with pytest.raises(ValueError, match="unknown action format 'xml'"):
        resolve_parser("xml")


HOSTILE = {
    "unclosed search tags": "<search>" * 20_000,
    "unclosed answer tags after a search": "<search>a</search>" + "<answer>" * 20_000,
    "unclosed tool_call tags": "<tool_call>" * 20_000,
    "unclosed think tags": "<think>" * 20_000 + "<search>x</search>",
    "closings before openings": "</search></answer></tool_call></think>" * 5_000 + "<search>" * 5_000,
}


@pytest.mark.parametrize("parser", [search_r1, tool_call], ids=["search_r1", "tool_call"])
@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_parsing_takes_time_linear_in_the_text(parser, text):
    # The regular expressions these replaced took 35 s on 20,000 unclosed tags.
    parsed, seconds = cpu_seconds(parser.parse, text)
    assert seconds < 0.1
    assert isinstance(parsed, (InvalidAction, ToolCall))


def _regex_spans(text, tags):
    """What the parser found before it scanned linearly, as the reference it must agree with."""
    text = re.sub(r"<think>.*?</think>", " ", text, flags=re.DOTALL)
    pattern = re.compile(r"<(%s)>(.*?)</\1>" % "|".join(map(re.escape, tags)), re.DOTALL)
    return [(m.group(1), m.group(2)) for m in pattern.finditer(text)], text


TAG_SOUP = st.lists(st.sampled_from(["<search>", "</search>", "<answer>", "</answer>", "<think>", "</think>",
                                     "<tool_call>", "</tool_call>", "<", ">", "/", "a", " ", "\n"]), max_size=30).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=TAG_SOUP)
def test_the_linear_scanners_find_what_the_regular_expressions_found(text):
    for tags in (("search", "answer"), ("tool_call", "answer")):
        spans, thought_out = _regex_spans(text, tags)
        assert _without_thinking(text) == thought_out
        assert _complete_spans(thought_out, tags) == spans


@pytest.mark.parametrize(
    "text, problem",
    [
        ('<tool_call>{"name": "search", "arguments": {"query": %s}}</tool_call>' % ("9" * 5_000), "a number has too many digits"),
        ('<tool_call>{"name": "search", "arguments": "%s"}</tool_call>' % ("[" * 100_000), "nested too deeply"),
        ('<tool_call>{"name": "search", "arguments": "{\\"k\\": %s}"}</tool_call>' % ("9" * 5_000), "a number has too many digits"),
    ],
)
def test_json_that_python_refuses_to_read_is_an_invalid_action(text, problem):
    parsed = tool_call.parse(text)
    assert isinstance(parsed, InvalidAction)
    assert problem in parsed.error and "<tool_call>" in parsed.error


@pytest.mark.parametrize("parser", [SearchR1Parser(), ToolCallParser()], ids=lambda p: p.name)
@pytest.mark.parametrize("action", [ToolCall("search", {"query": "Orvania"}), Answer("Paris")], ids=["call", "answer"])
def test_each_action_ends_at_one_of_its_parsers_stop_strings(parser, action):
    # A turn's generation stops at the first stop string: an action cut there must be whole, and parse back.
    text = parser.render(action)
    assert text.endswith(parser.stop) and not any(stop in text[:-1] for stop in parser.stop if not text.endswith(stop))
    assert parser.parse(text) == action
    from agent_r1.envs.actions import STOP_STRINGS

    assert set(parser.stop) <= set(STOP_STRINGS)
