
import gymnasium as gym
import pytest

import agent_r1.envs  # noqa: F401
from agent_r1.envs import Answer, InvalidAction, QAEnv, QATask, ToolCall, ToolEnv
from agent_r1.tools import BM25Retriever, Passage, Tool
from conftest import cpu_seconds

PASSAGES = [
    Passage("zorvan", "Zorvan Quist", "Zorvan Quist is a painter born in 1921 in Tarskmere."),
    Passage("tarsk", "Tarskmere", "Tarskmere is a city in Orvania."),
    Passage("other", "Belvik", "Belvik is a city in Quelland."),
]


class TinyQAEnv(QAEnv):
    """One fixed two-hop question: a minimal QAEnv subclass."""

    def __init__(self, retriever=None, **kwargs):
        super().__init__(**kwargs)
        self.retriever = retriever or BM25Retriever(PASSAGES)

    def _sample_task(self, options):
        return QATask(
            id="tiny",
            question="In which country was Zorvan Quist born?",
            answers=("Orvania",),
            supporting_ids=("zorvan", "tarsk"),
            oracle_queries=("Zorvan Quist", "Tarskmere"),
            retriever=self.retriever,
        )


def run(env, actions):
    steps = [env.step(a) for a in actions]
    return steps


def test_an_oracle_episode_end_to_end():
    env = TinyQAEnv(reward="process")
    obs, info = env.reset(seed=0)
    assert obs.endswith("Question: In which country was Zorvan Quist born?")
    assert "<search> query </search>" in obs
    assert info == {"task_id": "tiny", "question": "In which country was Zorvan Quist born?"}
    assert env.messages == [{"role": "user", "content": obs}]

    obs, reward, terminated, truncated, info = env.step("<search>Zorvan Quist</search>")
    assert obs.startswith("<information>Doc 1 (Title: Zorvan Quist)") and obs.endswith("</information>")
    assert info["reward_components"] == {"new_gold_passage": 1.0}
    assert reward == pytest.approx(0.1)
    assert (terminated, truncated) == (False, False)
    assert info["action"] == ToolCall("search", {"query": "Zorvan Quist"})
    assert info["tool_result"].data["ids"] == ["zorvan"]

    obs, reward, terminated, truncated, info = env.step("<answer> orvania </answer>")
    assert obs == "" and terminated and not truncated
    assert info["reward_components"] == {"answer_em": 1.0, "answer_f1": 1.0}
    assert reward == 1.0
    assert info["gold_answer"] == "Orvania" and info["prediction"] == "orvania"
    metrics = info["metrics"]
    assert metrics["em"] == metrics["f1"] == metrics["cover_em"] == 1.0
    assert metrics["gold_recall"] == 0.5
    assert (metrics["turns"], metrics["searches"], metrics["invalid_actions"]) == (2, 1, 0)
    assert metrics["return"] == pytest.approx(1.1)
    assert [m["role"] for m in env.messages] == ["user", "assistant", "user", "assistant"]


def test_malformed_actions_get_an_error_observation_and_a_format_penalty():
    env = TinyQAEnv(reward="process", max_turns=10)
    env.reset(seed=0)
    for action in ["no action here", "<search>a</search><search>b</search>", "<search>open"]:
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs.startswith("Invalid action: ") and "A valid action is" in obs
        assert info["reward_components"] == {"format": -1.0}
        assert reward == pytest.approx(-0.1)
        assert isinstance(info["action"], InvalidAction)
        assert not terminated and not truncated


def test_unknown_tools_and_bad_arguments_are_invalid_actions():
    env = TinyQAEnv(action_format="tool_call", max_turns=10)
    env.reset(seed=0)
    obs, _, _, _, info = env.step('<tool_call>{"name": "browse", "arguments": {"url": "x"}}</tool_call>')
    assert "unknown tool 'browse' (available: 'search')" in obs
    assert info["reward_components"] == {"format": -1.0}
    assert env.messages[-1]["role"] == "user"  # no tool ran
    obs, *_ = env.step('<tool_call>{"name": "search", "arguments": {}}</tool_call>')
    assert "missing required argument(s) 'query'" in obs
    obs, *_ = env.step('<tool_call>{"name": "search", "arguments": {"query": 7}}</tool_call>')
    assert "must be of type string" in obs
    obs, _, _, _, info = env.step('<tool_call>{"name": "search", "arguments": {"query": "Tarskmere"}}</tool_call>')
    assert obs.startswith("Doc 1 (Title: Tarskmere)")
    assert env.messages[-1]["role"] == "tool"


def test_a_crashing_retriever_is_a_tool_error_not_a_crash():
    class Down:
        def search(self, query, k):
            raise TimeoutError("server did not answer")

    env = TinyQAEnv(retriever=Down(), reward="process")
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step("<search>Zorvan</search>")
    assert "TimeoutError: server did not answer" in obs
    assert info["reward_components"] == {"tool_error": -1.0}
    assert reward == pytest.approx(-0.05) and not terminated


def test_repeated_queries_are_penalised_in_the_process_preset():
    env = TinyQAEnv(reward="process")
    env.reset(seed=0)
    env.step("<search>Belvik</search>")
    _, reward, _, _, info = env.step("<search>  belvik </search>")
    assert info["reward_components"] == {"repeated_query": -1.0}
    assert reward == pytest.approx(-0.05)


def test_the_outcome_preset_pays_only_the_final_f1():
    env = TinyQAEnv(reward="outcome")
    env.reset(seed=0)
    assert env.step("nonsense")[1] == 0.0
    assert env.step("<search>Zorvan Quist</search>")[1] == 0.0
    assert env.step("<answer>Orvania Republic</answer>")[1] == pytest.approx(2 / 3)


def test_the_turn_budget_truncates_with_metrics():
    env = TinyQAEnv(max_turns=2)
    env.reset(seed=0)
    assert env.step("<search>Belvik</search>")[3] is False
    obs, reward, terminated, truncated, info = env.step("<search>Tarskmere</search>")
    assert truncated and not terminated
    assert obs.startswith("<information>")
    assert info["metrics"]["em"] == 0.0 and info["metrics"]["answered"] is False
    assert info["reward_components"]["answer_f1"] == 0.0
    assert info["prediction"] is None


def test_stepping_a_finished_episode_asks_for_reset():
    env = TinyQAEnv()
    with pytest.raises(RuntimeError, match="call reset"):
        env.step("<answer>x</answer>")
    env.reset(seed=0)
    env.step("<answer>x</answer>")
    with pytest.raises(RuntimeError, match="call reset"):
        env.step("<answer>x</answer>")
    env.reset()
    assert env.turn == 0 and len(env.messages) == 1


def test_a_non_string_action_is_invalid():
    env = TinyQAEnv()
    env.reset(seed=0)
    obs, _, _, _, info = env.step(None)
    assert "the action must be a string, got NoneType" in obs


def test_system_prompt_and_render():
    env = TinyQAEnv(system_prompt="You are a careful researcher.", render_mode="ansi")
    env.reset(seed=0)
    env.step("<search>Tarskmere</search>")
    assert env.messages[0] == {"role": "system", "content": "You are a careful researcher."}
    text = env.render()
    assert text.startswith("[system]\nYou are a careful researcher.") and "[assistant]\n<search>Tarskmere</search>" in text


def test_the_oracle_skips_passages_already_found():
    env = TinyQAEnv()
    env.reset(seed=0)
    assert env.oracle_action() == "<search> Zorvan Quist </search>"
    env.step("<search>Tarskmere</search>")  # finds both gold passages at once
    assert env.oracle_action() == "<answer> Orvania </answer>"


def test_tool_schemas_for_chat_templates():
    env = TinyQAEnv(action_format="tool_call")
    env.reset(seed=0)
    (schema,) = env.tool_schemas()
    assert schema["function"]["name"] == "search"
    assert schema["function"]["parameters"]["required"] == ["query"]


def test_bad_configuration_is_reported():
    with pytest.raises(ValueError, match="max_turns must be at least 1"):
        TinyQAEnv(max_turns=0)
    with pytest.raises(ValueError, match="render_mode"):
        TinyQAEnv(render_mode="human")
    with pytest.raises(ValueError, match="unknown reward preset"):
        gym.make("AgentR1/SynthHop-v0", reward="dense")


LIMIT = ToolEnv.max_action_length
# The first five fit under the length limit, so the parser reads them (in linear time); the
# last three are refused unread.
UNREADABLE = {
    "unclosed search tags": "<search>" * (LIMIT // len("<search>")),
    "unclosed tool_call tags": "<tool_call>" * (LIMIT // len("<tool_call>")),
    "unclosed think tags": "<think>" * (LIMIT // len("<think>")),
    "a 5,000-digit integer": '<tool_call>{"name": "search", "arguments": {"query": %s}}</tool_call>' % ("9" * 5_000),
    "arguments nested 10,000 deep": '<tool_call>{"name": "search", "arguments": "%s"}</tool_call>' % ("[" * 10_000),
    "arguments nested 100,000 deep": '<tool_call>{"name": "search", "arguments": "%s"}</tool_call>' % ("[" * 100_000),
    "a million characters": "<answer>" + "a" * 1_000_000 + "</answer>",
    "20,000 unclosed search tags": "<search>" * 20_000,
}


@pytest.mark.parametrize("action_format", ["search_r1", "tool_call"])
@pytest.mark.parametrize("action", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_unreadable_action_is_answered_quickly_and_the_episode_goes_on(action_format, action):
    env = gym.make("AgentR1/SynthHop-v0", action_format=action_format, reward="process")
    env.reset(seed=0)
    (obs, reward, terminated, truncated, info), seconds = cpu_seconds(env.step, action)
    assert seconds < 0.1
    assert obs.startswith("Invalid action: ") and "A valid action is" in obs
    assert info["reward_components"] == {"format": -1.0} and isinstance(info["action"], InvalidAction)
    assert not terminated and not truncated
    obs, _, _, _, info = env.step(env.unwrapped.oracle_action())
    assert isinstance(info["action"], ToolCall) and info["tool_result"].ok


def test_an_action_over_the_length_limit_is_refused_unread():
    env = TinyQAEnv(max_turns=10)
    env.reset(seed=0)
    answer = "<answer>" + "Orvania " * LIMIT + "</answer>"
    obs, _, terminated, _, info = env.step(answer)
    assert f"over the limit of {LIMIT:,}" in obs and isinstance(info["action"], InvalidAction) and not terminated
    assert env.messages[-2] == {"role": "assistant", "content": answer}  # the history keeps what was written

    short = TinyQAEnv(max_action_length=30)
    short.reset(seed=0)
    assert "over the limit of 30" in short.step("<search>" + "Tarskmere " * 3 + "</search>")[0]
    assert short.step("<answer>Orvania</answer>")[2]
    with pytest.raises(ValueError, match="max_action_length must be at least 1"):
        TinyQAEnv(max_action_length=0)


def test_a_non_string_action_that_cannot_be_printed_is_still_invalid():
    class Unprintable:
        def __repr__(self):
            raise RuntimeError("no repr")

    deep = []
    for _ in range(100_000):
        deep = [deep]
    env = TinyQAEnv(max_turns=10)
    env.reset(seed=0)
    for action in (Unprintable(), deep, b"<answer>Orvania</answer>"):
        obs, _, terminated, _, info = env.step(action)
        assert obs.startswith("Invalid action: the action must be a string") and not terminated
        assert isinstance(env.messages[-2]["content"], str)
