"""Each env's page (docs/envs/) is checked against the env's code: its ids, every constructor argument, every reward
component, each preset's weights and the metrics an episode reports."""

import importlib
import inspect
import re
from pathlib import Path

import gymnasium as gym
import pytest

import agent_r1.envs  # noqa: F401
from agent_r1.envs.registration import ENVS

PAGES = Path(__file__).resolve().parent.parent / "docs" / "envs"
# page -> the entry point its ids share
PAGE_OF = {"agent_r1.envs.synthhop:SynthHopEnv": "synthhop.md", "agent_r1.envs.datasets:MultiHopQAEnv": "datasets.md",
           "agent_r1.envs.arithmetic:ArithmeticEnv": "arithmetic.md", "agent_r1.envs.mixture:MixtureEnv": "mixture.md"}
SECTIONS = ("Action and observation", "Starting state", "Rewards", "Episode end", "Info", "Arguments", "Version history")


def env_class(entry_point):
    module, _, name = entry_point.partition(":")
    return getattr(importlib.import_module(module), name)


def section(text, title):
    match = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section {title!r}"
    return match.group(1)


def arguments(cls):
    names = []
    for klass in cls.__mro__:
        if klass.__module__.startswith("agent_r1") and "__init__" in vars(klass):
            names += [p.name for p in inspect.signature(klass.__init__).parameters.values()
                      if p.name != "self" and p.kind is p.KEYWORD_ONLY]
    return dict.fromkeys(names)


def test_every_registered_env_has_a_page():
    assert {entry for entry, _ in ENVS.values()} == set(PAGE_OF)


@pytest.mark.parametrize("entry_point", sorted(PAGE_OF))
def test_a_page_names_its_ids_and_every_argument_and_reward_of_the_code(entry_point):
    text = (PAGES / PAGE_OF[entry_point]).read_text()
    for title in SECTIONS:
        section(text, title)
    for env_id, (entry, _) in ENVS.items():
        if entry == entry_point:
            assert f"`{env_id}`" in text.split("\n## ")[0], env_id
    cls = env_class(entry_point)
    documented = re.findall(r"^\| `(\w+)` \|", section(text, "Arguments"), re.M)
    assert documented == list(arguments(cls)), "the Arguments table must list the constructor's arguments in order"
    components = getattr(cls, "reward_components", {})
    rewards = section(text, "Rewards")
    assert re.findall(r"^\| `(\w+)` \|", rewards.split("| preset |")[0], re.M) == list(components)
    for preset, weights in getattr(cls, "reward_presets", {}).items():
        row = next(line for line in rewards.splitlines() if line.startswith(f"| `{preset}`"))
        assert re.findall(r"`(\w+)` × ([\d.]+)", row) == [(k, f"{w:g}") for k, w in weights.items()], preset


@pytest.mark.parametrize("env_id, kwargs", [("AgentR1/SynthHop-v0", {}), ("AgentR1/Arithmetic-v0", {"tools": ("calculator",)})])
def test_a_page_lists_the_metrics_and_info_an_episode_reports(env_id, kwargs):
    text = section((PAGES / PAGE_OF[ENVS[env_id][0]]).read_text(), "Info")
    env = gym.make(env_id, **kwargs)
    _, info = env.reset(seed=0)
    keys = set(info)
    while True:
        _, _, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        keys |= set(info)
        if terminated or truncated:
            break
    missing = [k for k in sorted(keys | set(info["metrics"])) if f"`{k}`" not in text]
    assert not missing, f"the Info section does not name {missing}"
