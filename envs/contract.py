"""What agent-r1 needs of an env beyond Gymnasium's API, written down as types.

The rollout engine, the trainer and evaluation rely on this; `ToolEnv` honours it, and an env of one's own that
does not derive from `ToolEnv` must too.

- `reset` returns the task statement: the text of the conversation's last message, given to the model as a user
  message after any earlier ones (a system prompt) in `messages`. Its info may carry `task_id`.
- `step(action)` takes the text the model wrote and returns the next observation: the next message of the
  conversation, in the role `info["observation_role"]` ("user" or "tool"; the parser's role when absent), or ""
  when nothing follows. The engine renders the conversation from these returns, so a `gym.Wrapper` that changes
  observations changes what the model reads.
- Each step's info carries `reward_components` (the reward's parts, summed under the env's reward preset); the
  final step's carries `metrics`, and for QA `prediction` and `gold_answer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, runtime_checkable

if TYPE_CHECKING:
    from agent_r1.envs.actions import ActionParser


class StepInfo(TypedDict, total=False):
    """The info keys the engine, the trainer and evaluation read (an env may add its own)."""

    task_id: str  # reset: the task's id, recorded so that training and evaluation tasks can be shown disjoint
    observation_role: str  # step: the chat role of the returned observation
    reward_components: dict[str, float]  # step: the reward's parts (process rewards), before the preset's weights
    metrics: dict[str, float]  # final step: em, f1, turns, return, ... (envs/metrics.py averages them)
    prediction: str | None  # final step: the answer given (None when the episode ran out of turns)
    gold_answer: str  # final step: the reference answer


@runtime_checkable
class AgentEnv(Protocol):
    """The attributes of `env.unwrapped` that agent-r1 reads."""

    parser: ActionParser  # the action protocol: instructions, parsing, stop strings, the observation role

    @property
    def messages(self) -> list[dict[str, str]]:
        """The conversation so far as chat messages (for transcripts and baselines)."""

    def tool_schemas(self) -> list[dict]:
        """The tools' JSON schemas, given to the chat template when the protocol is tool calling."""

    def oracle_action(self) -> str:
        """What an oracle would write now: the warm start's demonstrations and the sanity bounds."""


@dataclass(frozen=True)
class EpisodeEnd:
    """What a task says when its episode ends (`ToolEnv._finish`): the final reward's parts, the episode's metrics,
    and other info for the final step (the prediction, the gold answer)."""

    reward_components: dict[str, float]
    metrics: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
