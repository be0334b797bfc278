"""Named reward components and the weights that turn them into a scalar reward.

An environment reports raw, unweighted components each step (penalties are
negative, e.g. `format: -1.0` for a malformed action); a `RewardSpec` weighs
them. Keeping the two apart lets one run log every signal while training on a
chosen mix, and lets the outcome preset stay comparable with the papers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

# The components a QA environment emits, with what each measures.
COMPONENTS = {
    "format": "-1 when the action is malformed (no action, several actions, bad JSON, unknown tool, bad arguments)",
    "tool_error": "-1 when a well-formed tool call failed while running (exception, timeout, server down)",
    "new_gold_passage": "+1 for each gold supporting passage retrieved for the first time in this episode",
    "repeated_query": "-1 when a search repeats an earlier query of the episode",
    "answer_em": "exact match of the final answer (0 when the episode ends without one)",
    "answer_f1": "token F1 of the final answer (0 when the episode ends without one)",
}


@dataclass(frozen=True)
class RewardSpec:
    weights: Mapping[str, float] = field(default_factory=dict)

    def total(self, components: Mapping[str, float]) -> float:
        return float(sum(self.weights.get(name, 0.0) * value for name, value in components.items()))

    @classmethod
    def from_preset(cls, name: str, presets: Mapping[str, Mapping[str, float]] | None = None) -> "RewardSpec":
        presets = PRESETS if presets is None else presets
        try:
            return cls(dict(presets[name]))
        except KeyError:
            raise ValueError(f"unknown reward preset {name!r}; choose one of {sorted(presets)}") from None


PRESETS: dict[str, Mapping[str, float]] = {
    # The final answer's F1 and nothing else: comparable with Search-R1 and Agent-R1.
    "outcome": {"answer_f1": 1.0},
    # Dense signals on top: small enough that no sequence of searches outweighs a correct answer.
    "process": {
        "answer_f1": 1.0,
        "format": 0.1,
        "tool_error": 0.05,
        "new_gold_passage": 0.1,
        "repeated_query": 0.05,
    },
}


def resolve_reward(reward: str | RewardSpec | Mapping[str, float], known: Mapping[str, str] = COMPONENTS,
                   presets: Mapping[str, Mapping[str, float]] | None = None) -> RewardSpec:
    """Accepts a preset name, a spec, or a plain weights mapping (e.g. from a config file).

    A mapping naming a component the environment never emits is an error: a
    typo would otherwise silently weigh nothing.
    """
    if isinstance(reward, RewardSpec):
        return reward
    if isinstance(reward, str):
        return RewardSpec.from_preset(reward, presets)
    unknown = set(reward) - set(known)
    if unknown:
        raise ValueError(f"unknown reward component(s) {sorted(unknown)}; known: {sorted(known)}")
    return RewardSpec(dict(reward))
