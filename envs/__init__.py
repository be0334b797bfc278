"""Gymnasium environments for LLM agents that use tools.

Importing this package registers every AgentR1/* id; it imports neither torch
nor transformers.
"""

from agent_r1.envs.actions import Answer, InvalidAction, SearchR1Parser, ToolCall, ToolCallParser
from agent_r1.envs.qa_env import QAEnv, QATask
from agent_r1.envs.registration import ENVS, register_envs
from agent_r1.envs.rewards import PRESETS, RewardSpec
from agent_r1.envs.tool_env import ToolEnv

register_envs()

__all__ = [
    "ENVS",
    "PRESETS",
    "Answer",
    "InvalidAction",
    "QAEnv",
    "QATask",
    "RewardSpec",
    "SearchR1Parser",
    "ToolCall",
    "ToolCallParser",
    "ToolEnv",
]
