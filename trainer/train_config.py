"""The settings of a training run: one dataclass with three sections (config_sections.py), readable from a JSON or
TOML file and the command line."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from agent_r1.tools.paths import DEFAULT_MODEL
# The sections are imported from here too: a training run's settings have one entry point.
from agent_r1.trainer.config_sections import PPOSettings, RolloutSettings, WarmStartSettings, section, setting

# Light on purpose: the command line builds its parser from this module without importing torch or TRL.
ALGORITHMS = ("grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline", "turn_level", "ppo")
# The algorithms that credit steps with later rewards, and so take a discount `gamma` (PPO through its GAE). GRPO and
# RLOO score whole episodes: there is nothing to discount.
DISCOUNTED = ("reinforce_pp", "reinforce_pp_baseline", "turn_level", "ppo")
@dataclass
class TrainConfig:
    """The settings of a training run: top-level fields and three sections (rollout, warm_start, ppo). Each setting's
    help text is in its metadata (`help_text(name)`). Config files give sections as JSON objects or TOML tables, or
    any setting by its command-line name (`warm_start_epochs`, as older train_config.json files do)."""

    # ---- what to train on -------------------------------------------------------------------------------------------
    env: str = setting("AgentR1/SynthHop-v0", "a registered environment id (or MODULE:ID), or a mixture: "
                       "ID[=WEIGHT],ID[=WEIGHT],... (each GRPO group draws one env, with probability proportional to "
                       "its weight, 1 by default)")
    env_kwargs: dict[str, Any] = setting({}, "keyword arguments of the envs for training and, unless eval_env_kwargs "
                                         "overrides them, evaluation; those under an env's id ({ID: {...}}) are that "
                                         "env's alone. A dataset env trains on split=train unless split or data_path "
                                         "is given", flag="--env-arg")
    eval_envs: str = setting("", "the envs evaluated held out before, during and after training, comma-separated, "
                             "each reported on its own (default: the training envs), e.g. a dataset out of the "
                             "training domain")
    eval_env_kwargs: dict[str, Any] = setting({}, "keyword arguments of the envs for held-out evaluation only, over "
                                              "env_kwargs; a dataset env evaluates on split=dev unless told otherwise; "
                                              "a run whose training and evaluation files share questions is refused",
                                              flag="--eval-env-arg")
    model: str = setting(DEFAULT_MODEL, f"{DEFAULT_MODEL} (the embedded default), a local directory, or hf:HUB_ID "
                         "(a Hugging Face hub model)")
    algo: str = setting("grpo", "grpo, ppo, rloo, reinforce_pp, reinforce_pp_baseline or turn_level")
    reward_preset: str = setting("outcome", "outcome (final answer F1) or process (plus per-step rewards)")
    output_dir: str = setting("runs/agent-r1", "the run folder: checkpoints, metrics, curve, summary")
    # ---- the RL loop ------------------------------------------------------------------------------------------------
    max_steps: int = setting(30, "optimiser steps of RL", least=1)
    groups_per_step: int = setting(4, "distinct tasks per optimiser step", least=1)
    group_size: int = setting(4, "episodes per task (GRPO's G)", least=1)
    micro_batch_size: int = setting(8, "episodes per forward and backward pass; the rest of a step is gradient "
                                    "accumulation", least=1)
    learning_rate: float = setting(2e-4, "the RL optimiser's learning rate", above=0)
    lora_r: int = setting(16, "the LoRA adapter's rank", least=1)
    lora_alpha: int = setting(32, "the LoRA adapter's alpha (its scale is alpha / r)", least=1)
    full_finetune: bool = setting(False, "train every weight instead of a LoRA adapter")
    gamma: float = setting(1.0, "the discount of later rewards per model token (ppo, reinforce_pp, "
                           "reinforce_pp_baseline) or per turn (turn_level); grpo and rloo score whole episodes",
                           above=0)
    beta: float = setting(0.0, "the KL penalty's weight, against the reference (the model with the adapter disabled)",
                          least=0)
    epsilon: float = setting(0.2, "the clipping range of the policy ratio", above=0)
    loss_type: str = setting("dapo", "TRL's loss type, how token losses are summed into one (dapo, grpo, "
                             "dr_grpo, bnpo, ...: TRL's GRPOConfig lists them)")
    gradient_checkpointing: bool = setting(False, "recompute activations during the backward pass (warm start and "
                                           "RL): a pass holds about one layer's activations instead of all, for one "
                                           "more forward pass")
    bf16: bool = setting(False, "train under bfloat16 autocast (warm start and RL): weights, gradients and the "
                         "optimiser stay float32, matrix products run in bfloat16; on the reference CPU (AVX-512 "
                         "BF16) a forward and backward pass of the default model took 4.0 s instead of 7.3 s "
                         "(docs/training.md)")
    # ---- held-out evaluation ----------------------------------------------------------------------------------------
    eval_every: int = setting(10, "steps between held-out evaluations (0: only before and after RL)", least=0)
    eval_episodes: int = setting(64, "episodes of each held-out evaluation, per held-out env (a dataset env: "
                                 "questions of its evaluation file in order; at most all of them)", least=1)
    eval_batch_size: int = setting(16, "held-out episodes run at once: larger batches decode faster on a CPU and, "
                                   "with transformers, hold more KV cache (about 46 KB a token for the default "
                                   "model); vLLM schedules within its own cache", least=1)
    eval_seed: int = setting(0, "the first held-out episode: episode i resets with seed eval_seed + i and, in a "
                             "dataset env, poses question eval_seed + i (SynthHop: keep the range apart from "
                             "train_seed's)", least=0)
    train_seed: int = setting(100_000, "seed of the first training task; task i uses train_seed + i", least=0)
    # ---- checkpoints and seeds --------------------------------------------------------------------------------------
    save_every: int = setting(5, "steps between checkpoints", least=1)
    save_total_limit: int = setting(2, "checkpoints kept (0: all)", least=0)
    seed: int = setting(0, "the seed of the model's initialisation and sampling", least=0)
    # ---- sections ---------------------------------------------------------------------------------------------------
    rollout: RolloutSettings = section(RolloutSettings, "how training episodes are sampled")
    warm_start: WarmStartSettings = section(WarmStartSettings, "the supervised warm start before RL")
    ppo: PPOSettings = section(PPOSettings, "PPO's critic")

    def __post_init__(self) -> None:
        for name, kind in SECTIONS.items():
            if not isinstance(getattr(self, name), kind):
                # TrainConfig(warm_start=64) in Python: a section is an object (from_dict takes flat names too)
                raise TypeError(f"{name} must be a {kind.__name__}, got {getattr(self, name)!r}")
        problems = _bound_problems(self)
        if self.algo not in ALGORITHMS:
            problems.append(f"algo must be one of {', '.join(ALGORITHMS)}, got {self.algo!r}")
        for name in ("env", "eval_envs"):
            try:
                env_list(getattr(self, name), name, allow_empty=name == "eval_envs", weights=name == "env")
            except ValueError as exc:
                problems.append(str(exc))
        if self.gamma != 1 and math.isfinite(self.gamma) and self.algo not in DISCOUNTED:
            problems.append(f"{self.algo} scores whole episodes, so gamma has nothing to discount: leave it at 1, or "
                            f"use one of {', '.join(DISCOUNTED)}")
        elif self.gamma > 1:
            problems.append(f"gamma must be above 0 and at most 1, got {self.gamma}")
        if self.group_size < 2 and self.algo in ("grpo", "rloo", "turn_level", "reinforce_pp_baseline"):
            problems.append(f"{self.algo} compares episodes within a group: group_size must be at least 2")
        if self.micro_batch_size >= 1 and self.episodes_per_step % self.micro_batch_size:
            problems.append(f"groups_per_step x group_size ({self.episodes_per_step}) must be a multiple of "
                            f"micro_batch_size ({self.micro_batch_size})")
        if min(self.micro_batch_size, self.group_size) >= 1 and self.micro_batch_size % self.group_size \
                and self.group_size % self.micro_batch_size:
            problems.append("micro_batch_size and group_size must divide one another")
        for name in SECTIONS:
            problems += getattr(self, name).problems()
        if problems:
            raise ValueError("bad training config: " + "; ".join(problems))

    @property
    def episodes_per_step(self) -> int:
        return self.groups_per_step * self.group_size

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> "TrainConfig":
        """A JSON or TOML file of settings (see the class); `overrides`, by command-line name, win. Unknown names and
        values of the wrong type are errors."""
        path = Path(path)
        try:
            text = path.read_text()
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except FileNotFoundError:
            raise FileNotFoundError(f"no config file at {path}") from None
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected an object of settings, got {type(data).__name__}")
        return cls.from_dict(data, source=str(path), overrides=overrides)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config", overrides: dict[str, Any] | None = None,
                  ) -> "TrainConfig":
        """Settings by field name, sections as dicts ({"rollout": {"max_turns": 4}}), or any setting by its
        command-line name ({"max_turns": 4}); `overrides` (command-line names) are applied last."""
        values: dict[str, Any] = {}  # path -> value
        by_option = {option: path for path, option in _options().items()}
        for key, value in [*data.items(), *(overrides or {}).items()]:
            if key in SECTIONS and isinstance(value, dict):
                unknown = sorted(set(value) - {f.name for f in fields(SECTIONS[key])})
                if unknown:
                    raise ValueError(f"{source}: unknown setting(s) {', '.join(key + '.' + u for u in unknown)} in "
                                     f"section {key}; known: {', '.join(f.name for f in fields(SECTIONS[key]))}")
                values |= {f"{key}.{name}": item for name, item in value.items()}
            elif key in by_option or key in _leaves():
                values[by_option.get(key, key)] = value
            else:
                raise ValueError(f"{source}: unknown setting(s) {key}; known: {', '.join(sorted(by_option))} (or the "
                                 f"sections {', '.join(SECTIONS)})")
        leaves = _leaves()
        for path, value in values.items():
            expected = type(_default(leaves[path]))
            ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                article = "an" if expected.__name__[0] in "aeiou" else "a"
                raise ValueError(f"{source}: {path} must be {article} {expected.__name__}, got {value!r}")
        top = {path: value for path, value in values.items() if "." not in path}
        for name, kind in SECTIONS.items():
            own = {path.split(".", 1)[1]: value for path, value in values.items() if path.startswith(name + ".")}
            top[name] = kind(**own)
        return cls(**top)


def env_list(text: str, name: str = "env", *, allow_empty: bool = False, weights: bool = True) -> list[tuple[str, float]]:
    """The (id, weight) pairs of "ID[=WEIGHT],ID[=WEIGHT],..." (weight 1 where not given): the envs of a mixture.
    Ids are checked against the registry where they are used, not here (this module imports no env)."""
    pairs = []
    for item in [part.strip() for part in text.split(",")] if text.strip() else []:
        env_id, sep, weight = item.partition("=")
        if not env_id or (sep and not weights):
            raise ValueError(f"{name} lists env ids{' with optional =WEIGHT' if weights else ''}, got {item!r} in {text!r}")
        try:
            value = float(weight) if sep else 1.0
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name}: the weight of {env_id} must be a number above 0, got {weight!r}")
        pairs.append((env_id, value))
    if not pairs and not allow_empty:
        raise ValueError(f"{name} names no env, got {text!r}")
    if len({env_id for env_id, _ in pairs}) != len(pairs):
        raise ValueError(f"{name} names an env twice: {text!r}")
    return pairs


SECTIONS: dict[str, type] = {"rollout": RolloutSettings, "warm_start": WarmStartSettings, "ppo": PPOSettings}


def _leaves() -> dict[str, Any]:
    """Every setting by its path (`max_steps`, `rollout.max_turns`): the dataclass field of each."""
    leaves = {}
    for f in fields(TrainConfig):
        if f.metadata.get("section"):
            leaves |= {f"{f.name}.{g.name}": g for g in fields(SECTIONS[f.name])}
        else:
            leaves[f.name] = f
    return leaves


def _options() -> dict[str, str]:
    """Each setting's command-line name (its option without dashes, `-` as `_`), by path."""
    return {path: flag(path)[2:].replace("-", "_") for path in _leaves()}


def _bound_problems(config: TrainConfig) -> list[str]:
    problems = []
    for path, f in _leaves().items():
        value = config
        for part in path.split("."):
            value = getattr(value, part)
        least, above = f.metadata.get("least"), f.metadata.get("above")
        if isinstance(value, float) and not math.isfinite(value):
            # NaN and infinities first: NaN passes every `x < 0` test.
            problems.append(f"{path} must be a finite number, got {value}")
        elif least is not None and not value >= least:
            problems.append(f"{path} must be {'at least 1' if least == 1 else f'{least} or more'}, got {value}")
        elif above is not None and not value > above:
            problems.append(f"{path} must be above {above}, got {value}")
    return problems


def option_defaults() -> dict[str, Any]:
    """Every setting's default, by command-line name (`warm_start_epochs`): what `TrainConfig.from_dict` accepts."""
    return {option: _default(_leaves()[path]) for path, option in _options().items()}


def _default(f) -> Any:
    return f.default if f.default is not MISSING else f.default_factory()


def _path(name: str) -> str:
    """The path of a setting given by path or by command-line name."""
    return name if name in _leaves() else {option: path for path, option in _options().items()}[name]


def help_text(name: str) -> str:
    """A setting's help text, by path or command-line name."""
    return _leaves()[_path(name)].metadata["help"]


def flag(name: str) -> str:
    """A setting's command-line option, by path."""
    prefix, _, field_name = name.rpartition(".")
    return _leaves()[name].metadata["flag"] or "--" + (f"{prefix}_{field_name}" if prefix else name).replace("_", "-")


def settings_table() -> str:
    """Every setting as a Markdown table (docs/training.md holds it: `python -m agent_r1.trainer.train_config`)."""
    rows = ["| setting | option | default | meaning |", "|---|---|---|---|"]
    for path, f in _leaves().items():
        rows.append(f"| `{path}` | `{flag(path)}` | `{_default(f)!r}` | {f.metadata['help']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
