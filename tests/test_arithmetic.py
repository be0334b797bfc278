"""AgentR1/Arithmetic-v0 and its calculator."""

import gymnasium as gym
import pytest

import agent_r1.envs  # noqa: F401
from agent_r1.tools.calculator import CalculatorTool, evaluate


def test_calculator():
    assert evaluate("(37 * 12 - 145) // 7") == 42 and evaluate("7 / 2") == 3.5 and evaluate("-2 ** 3") == -8
    for bad in ("__import__('os')", "2 ** 1000", "1 / 0", "x + 1", "9" * 600):
        with pytest.raises(ValueError):
            evaluate(bad)
    assert CalculatorTool()(expression="6 * 7").content == "42"
    assert not CalculatorTool()(expression="open('f')").ok


def test_the_calculator_answers_only_real_finite_numbers():
    assert evaluate("4 ** 0.5") == 2 and evaluate("(-8) ** 2") == 64 and evaluate("2 ** -1") == 0.5
    # Python's ** gives a complex number for a negative base and a fractional exponent, 1e999 is inf.
    for bad, reason in [("(-8) ** 0.5", "not a real number"), ("(-8) ** (1 / 3)", "not a real number"),
                        ("(-2) ** -0.5", "not a real number"), ("1e999", "too large"), ("-1e999", "too large"),
                        ("1e999 - 1e999", "too large"), ("1e200 ** 2", "too large"), ("1e308 * 10", "too large")]:
        with pytest.raises(ValueError, match=reason):
            evaluate(bad)
        result = CalculatorTool()(expression=bad)
        assert not result.ok and result.content == f"Error: the result is {reason}", bad


def test_the_oracle_solves_every_problem_with_process_rewards():
    env = gym.make("AgentR1/Arithmetic-v0", reward="process")
    for seed in range(40):
        env.reset(seed=seed)
        problem = env.unwrapped.problem
        total = 0.0
        while True:
            _, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
            total += reward
            if terminated or truncated:
                break
        assert terminated and info["metrics"]["em"] == 1.0 and info["metrics"]["intermediates_found"] == 1.0
        assert info["gold_answer"] == str(problem.answer)
        assert total == pytest.approx(1.0 + 0.05 * len(problem.steps) + 0.1 * len({v for _, v in problem.steps}))


def test_rewards_for_partial_progress_and_wrong_answers():
    env = gym.make("AgentR1/Arithmetic-v0", reward="process", tools=("calculator",))
    env.reset(seed=5)
    first_expression, first_value = env.unwrapped.problem.steps[0]
    call = '<tool_call>{"name": "calculator", "arguments": {"expression": "%s"}}</tool_call>' % first_expression
    _, reward, *_, info = env.step(call)
    assert info["reward_components"] == {"tool_success": 1.0, "new_intermediate": 1.0}
    _, _, *_, info = env.step(call)  # the same value again is not new
    assert info["reward_components"] == {"tool_success": 1.0}
    _, reward, terminated, _, info = env.step("<answer> 1 </answer>")
    assert terminated and reward == 0.0 and info["metrics"]["em"] == 0.0
    assert info["metrics"]["intermediates_found"] == pytest.approx(1 / len({v for _, v in env.unwrapped.problem.steps}))


def test_same_seed_same_problem_and_bad_settings():
    a, b = gym.make("AgentR1/Arithmetic-v0"), gym.make("AgentR1/Arithmetic-v0")
    assert a.reset(seed=9)[1] == b.reset(seed=9)[1]
    with pytest.raises(ValueError, match="tool_call"):
        gym.make("AgentR1/Arithmetic-v0", action_format="search_r1")
    with pytest.raises(ValueError, match="tools must name"):
        gym.make("AgentR1/Arithmetic-v0", tools=("shell",))
    with pytest.raises(ValueError, match="unknown reward component"):
        gym.make("AgentR1/Arithmetic-v0", reward={"new_gold_passage": 1.0})


def test_a_flood_of_numbers_earns_no_intermediate_reward():
    # Found by probing: one print(*range(20000)) used to collect most intermediate rewards of an episode.
    env = gym.make("AgentR1/Arithmetic-v0", reward="process")
    flood = '<tool_call>{"name": "python", "arguments": {"code": "print(*range(20000))"}}</tool_call>'
    earned = 0.0
    for seed in range(20):
        env.reset(seed=seed)
        _, _, _, _, info = env.step(flood)
        earned += info["reward_components"].get("new_intermediate", 0.0)
        assert info["reward_components"] == {"tool_success": 1.0}
    assert earned == 0.0
    # The same values, stated one at a time as results, are credited once each.
    env.reset(seed=0)
    credited = 0.0
    for expression, _ in env.unwrapped.problem.steps:
        code = f'<tool_call>{{"name": "python", "arguments": {{"code": "print({expression})"}}}}</tool_call>'
        _, _, _, _, info = env.step(code)
        credited += info["reward_components"].get("new_intermediate", 0.0)
    assert credited == len({value for _, value in env.unwrapped.problem.steps})
