"""ToolEnv: the Gymnasium environment that interprets tool results for a task.

The state is the whole interaction history (the chat messages so far); an
action is the agent's text; a step parses it, runs at most one tool, lets the
task decide what the result means (reward components, termination), and
packages the next observation. Subclasses supply the task through a few hooks.

`step` never raises on what the agent wrote, and its parsing takes time linear
in the text: an action that cannot be read (malformed, not a string, longer
than `max_action_length`) is answered with an error observation and the
`format` penalty, and the episode goes on.
"""

from __future__ import annotations

import reprlib
from typing import Any, ClassVar, Mapping

import gymnasium as gym

from agent_r1.envs.actions import ActionParser, Answer, InvalidAction, ParsedAction, ToolCall, resolve_parser
from agent_r1.envs.contract import EpisodeEnd
from agent_r1.envs.rewards import COMPONENTS, PRESETS, RewardSpec, resolve_reward
from agent_r1.envs.spaces import UnicodeText
from agent_r1.tools.base import Tool, ToolResult


class ToolEnv(gym.Env[str, str]):
    # render_fps only matters to video recorders; Gymnasium warns when it is missing.
    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    # The reward components this env may emit; a RewardSpec may weigh only these.
    reward_components: ClassVar[Mapping[str, str]] = COMPONENTS
    # The named weightings `reward=` accepts (outcome, process) for this env's components.
    reward_presets: ClassVar[Mapping[str, Mapping[str, float]]] = PRESETS
    # Actions longer than this (characters) are refused unread, as invalid actions: a
    # runaway generation must not cost a parse, and no valid action comes close (a
    # tool call or answer is a few hundred characters, a program a few thousand).
    # `max_action_length=` of the constructor overrides it for one env.
    max_action_length: int = 20_000

    def __init__(
        self,
        *,
        action_format: str | ActionParser = "search_r1",
        reward: str | RewardSpec | Mapping[str, float] = "outcome",
        max_turns: int = 4,
        system_prompt: str | None = None,
        render_mode: str | None = None,
        max_action_length: int | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {max_turns}")
        if max_action_length is not None:
            if max_action_length < 1:
                raise ValueError(f"max_action_length must be at least 1, got {max_action_length}")
            self.max_action_length = max_action_length
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.parser = resolve_parser(action_format)
        self.reward_spec = resolve_reward(reward, self.reward_components, self.reward_presets)
        self.max_turns = max_turns
        self.system_prompt = system_prompt
        self.render_mode = render_mode
        self.observation_space = UnicodeText()
        self.action_space = UnicodeText()
        self._messages: list[dict[str, str]] = []
        self._turn = 0
        self._episode_over = True
        self._counts = {"invalid_actions": 0, "tool_calls": 0, "tool_errors": 0}
        self._return = 0.0

    # ---- the task: subclasses implement these ---------------------------------
    @property
    def tools(self) -> Mapping[str, Tool]:
        """The tools available in the current episode, by name."""
        raise NotImplementedError

    def _start_task(self, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Draws a new task with `self.np_random`; returns its statement and reset info."""
        raise NotImplementedError

    def _interpret_tool_result(self, call: ToolCall, result: ToolResult) -> dict[str, float]:
        """Reward components of a tool result (e.g. a new gold passage). None by default."""
        return {}

    def _finish(self, answer: str | None) -> EpisodeEnd:
        """Ends the episode: the final answer's reward components, metrics and info (answer None: out of turns)."""
        raise NotImplementedError

    def oracle_action(self) -> str:
        """The text an oracle would write now."""
        raise NotImplementedError

    # ---- Gymnasium API --------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        statement, info = self._start_task(options or {})
        prompt = f"{self.parser.instructions(self.tool_schemas())}\n\n{statement}"
        self._messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        self._messages.append({"role": "user", "content": prompt})
        self._turn = 0
        self._episode_over = False
        self._counts = dict.fromkeys(self._counts, 0)
        self._return = 0.0
        return prompt, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._episode_over:
            raise RuntimeError("the episode is over (or never started): call reset() before step()")
        self._turn += 1
        # reprlib bounds the text, and survives a deep or self-referencing object and a raising __repr__.
        text = action if isinstance(action, str) else reprlib.repr(action)
        self._messages.append({"role": "assistant", "content": text})

        parsed = self._parse(action)
        components: dict[str, float] = {}
        result: ToolResult | None = None
        role = self.parser.observation_role
        if isinstance(parsed, ToolCall):
            parsed, result = self._call_tool(parsed)
        if isinstance(parsed, InvalidAction):
            self._counts["invalid_actions"] += 1
            components["format"] = -1.0
            observation = f"Invalid action: {parsed.error}"
            role = "user"  # no tool ran: a tool message would answer a call that was never made
        elif result is not None:
            self._counts["tool_calls"] += 1
            components.update(self._interpret_tool_result(parsed, result))
            if not result.ok:
                self._counts["tool_errors"] += 1
                components["tool_error"] = -1.0
            observation = self.parser.format_observation(result.content)
        else:
            observation = ""

        terminated = isinstance(parsed, Answer)
        truncated = not terminated and self._turn >= self.max_turns
        info: dict[str, Any] = {"turn": self._turn, "action": parsed, "tool_result": result}
        metrics: dict[str, Any] | None = None
        if terminated or truncated:
            self._episode_over = True
            end = self._finish(parsed.text if terminated else None)
            components.update(end.reward_components)
            metrics = end.metrics
            info.update(end.info)
        if observation:
            self._messages.append({"role": role, "content": observation})
            info["observation_role"] = role
        reward = self.reward_spec.total(components)
        self._return += reward
        info["reward_components"] = components
        if metrics is not None:
            info["metrics"] = {**metrics, **self._counts, "turns": self._turn, "return": self._return}
        return observation, reward, terminated, truncated, info

    def _parse(self, action: Any) -> ParsedAction:
        if not isinstance(action, str):
            return self.parser.invalid(f"the action must be a string, got {type(action).__name__}")
        if len(action) > self.max_action_length:
            return self.parser.invalid(
                f"the action is {len(action):,} characters long, over the limit of {self.max_action_length:,}; "
                "write a short action"
            )
        return self.parser.parse(action)

    def _call_tool(self, call: ToolCall) -> tuple[ParsedAction, ToolResult | None]:
        tool = self.tools.get(call.name)
        if tool is None:
            available = ", ".join(map(repr, self.tools)) or "none"
            return self.parser.invalid(f"unknown tool {call.name!r} (available: {available})"), None
        problem = tool.validate(call.arguments)
        if problem is not None:
            return self.parser.invalid(problem), None
        return call, tool(**call.arguments)

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self._messages)

    # ---- the state ------------------------------------------------------------
    @property
    def messages(self) -> list[dict[str, str]]:
        """The interaction history so far as OpenAI chat messages (a copy)."""
        return [dict(m) for m in self._messages]

    def tool_schemas(self) -> list[dict[str, Any]]:
        """The tools as OpenAI function-tool dicts, for a chat template's `tools=`."""
        return [tool.schema() for tool in self.tools.values()]

    @property
    def turn(self) -> int:
        return self._turn
