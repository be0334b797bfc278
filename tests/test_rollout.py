"""The rollout engine's token contract, with a scripted generator and the real SmolLM2 tokenizer."""

import copy
import threading
import time
from pathlib import Path

import gymnasium as gym
import pytest

import agent_r1.envs  # noqa: F401
from agent_r1.tools import Tool
from agent_r1.trainer.rollout.generation import Sample
from agent_r1.trainer.rollout.engine import ChatTemplateError, RolloutConfig, RolloutEngine
from test_tool_env import TinyQAEnv

DATA = Path(__file__).parent / "data"
ORACLE = ["<search> Zorvan Quist </search>", "<search> Tarskmere </search>", "<answer> Orvania </answer>"]


class ScriptedGenerator:
    """Writes scripted actions, one script per episode (by row in the first batch), and records
    every batch of prompts it is given. An episode is recognised in later batches by its prefix."""

    def __init__(self, tokenizer, scripts, *, eos=False, logprob=-0.5):
        self.tokenizer, self.scripts, self.eos, self.logprob = tokenizer, scripts, eos, logprob
        self.calls = []
        self.seen = []  # per episode: (what it has read and written so far, turns taken)

    def _episode(self, prompt, taken):
        if not self.calls[1:]:  # the first batch: episodes in row order
            self.seen.append((tuple(prompt), 0))
            return len(self.seen) - 1
        for index, (prefix, _) in enumerate(self.seen):
            if index not in taken and tuple(prompt[: len(prefix)]) == prefix:
                return index
        raise AssertionError("a prompt that extends no earlier episode")

    def generate(self, prompts, config, *, max_new_tokens=None):
        self.calls.append([list(p) for p in prompts])
        samples, taken = [], set()
        for row, prompt in enumerate(prompts):
            episode = self._episode(prompt, taken)
            taken.add(episode)
            turn = self.seen[episode][1]
            script = self.scripts[episode % len(self.scripts)]
            ids = self.tokenizer(script[min(turn, len(script) - 1)], add_special_tokens=False)["input_ids"]
            if self.eos:
                ids = ids + [self.tokenizer.eos_token_id]
            budget = max_new_tokens[row] if max_new_tokens else config.max_new_tokens
            ids, reason = (ids[:budget], "length") if len(ids) > budget else (ids, "eos" if self.eos else "stop")
            self.seen[episode] = (tuple(prompt) + tuple(ids), turn + 1)
            samples.append(Sample(ids, [self.logprob] * len(ids), reason, self.tokenizer.decode(ids)))
        return samples


def engine(tokenizer, scripts, env_factory=lambda: TinyQAEnv(reward="process"), **config):
    generator = ScriptedGenerator(tokenizer, scripts, eos=config.pop("eos", False))
    return RolloutEngine(generator, tokenizer, "tiny", env_factory=env_factory, config=RolloutConfig(**config)), generator


@pytest.mark.parametrize("eos", [False, True])
def test_turns_are_prefixes_and_masks_line_up(smollm2_tokenizer, eos):
    tok = smollm2_tokenizer
    rollout, generator = engine(tok, [ORACLE], eos=eos)
    (trajectory,) = rollout.rollout([0])
    # Each turn's input is the previous input plus exactly what was sampled and the observation.
    inputs = [call[0] for call in generator.calls]
    assert len(inputs) == 3
    for before, after in zip(inputs, inputs[1:]):
        assert after[: len(before)] == before
    assert inputs[0] == trajectory.prompt_ids
    full = trajectory.prompt_ids + trajectory.response_ids
    for (start, end), nxt in zip(trajectory.turn_spans, inputs[1:] + [full]):
        assert nxt[: len(trajectory.prompt_ids) + end] == full[: len(trajectory.prompt_ids) + end]
    # Loss mask: 1 exactly on model tokens; log-probs there; observations have neither.
    model_positions = {i for start, end in trajectory.turn_spans for i in range(start, end)}
    assert [i for i, m in enumerate(trajectory.loss_mask) if m] == sorted(model_positions)
    assert all((lp == -0.5) == (i in model_positions) for i, lp in enumerate(trajectory.logprobs))
    assert len(trajectory.loss_mask) == len(trajectory.logprobs) == len(trajectory.token_rewards) == len(trajectory.response_ids)
    # The observation tokens are the template's rendering: the whole text is the chat transcript.
    rendered = tok.apply_chat_template(trajectory.messages, tokenize=False)
    text = tok.decode(full)
    assert rendered.startswith(text)
    assert "<information>Doc 1 (Title: Zorvan Quist)" in tok.decode(trajectory.response_ids[trajectory.turn_spans[0][1]:trajectory.turn_spans[1][0]])


@pytest.mark.parametrize("case", ["special token mid-turn", "another end of sequence"])
def test_special_tokens_the_model_writes_are_kept(smollm2_tokenizer, case):
    """A sampled special token that does not end the turn, or an EOS that is not the template's end of turn
    (SmolLM2 closes turns with <|im_end|>; <|endoftext|> is another special token), keeps the token contract."""
    tok = copy.deepcopy(smollm2_tokenizer)
    script = list(ORACLE)
    if case == "special token mid-turn":
        script[0] = "<search> Zorvan<|im_start|> Quist </search>"
        rollout, generator = engine(tok, [script])
    else:
        tok.eos_token = "<|endoftext|>"  # the generator ends each turn with it
        rollout, generator = engine(tok, [script], eos=True)
    (t,) = rollout.rollout([0])
    assert len(t.turn_spans) == 3 and t.terminated
    full = t.prompt_ids + t.response_ids
    special = tok.convert_tokens_to_ids("<|im_start|>" if case == "special token mid-turn" else "<|endoftext|>")
    start, end = t.turn_spans[0]
    assert special in t.response_ids[start:end]  # kept as the model wrote it, as a model token
    assert t.loss_mask[start + t.response_ids[start:end].index(special)] == 1
    for before, after in zip(generator.calls, generator.calls[1:]):  # each turn's input extends the last
        assert after[0][: len(before[0])] == before[0]
    written = full[:len(t.prompt_ids) + end - (case == "another end of sequence")]  # the EOS is not message text
    assert tok.apply_chat_template(t.messages, tokenize=False).startswith(tok.decode(written))
    if case == "another end of sequence":  # the template's own end of turn follows, as observation
        assert tok.decode(t.response_ids[end:end + 1]) == "<|im_end|>" and t.loss_mask[end] == 0


def test_rewards_land_on_the_last_token_of_their_turn(smollm2_tokenizer):
    (trajectory,) = engine(smollm2_tokenizer, [ORACLE])[0].rollout([0])
    assert trajectory.turn_rewards == pytest.approx([0.1, 0.1, 1.0])  # two new gold passages, then the answer
    nonzero = {i: r for i, r in enumerate(trajectory.token_rewards) if r}
    assert nonzero == pytest.approx({end - 1: r for (_, end), r in zip(trajectory.turn_spans, trajectory.turn_rewards)})
    assert trajectory.episode_return == pytest.approx(1.2)
    assert trajectory.reward_components[2] == {"answer_em": 1.0, "answer_f1": 1.0}
    assert trajectory.terminated and not trajectory.truncated and trajectory.metrics["em"] == 1.0


def test_groups_share_their_task_and_finished_episodes_leave_the_batch(smollm2_tokenizer):
    quick = ["<answer> Orvania </answer>"]
    rollout, generator = engine(smollm2_tokenizer, [ORACLE, quick, quick, ORACLE])
    trajectories = rollout.rollout([5, 6], group_size=2)
    assert [(t.seed, t.group) for t in trajectories] == [(5, 0), (5, 0), (6, 1), (6, 1)]
    assert [len(call) for call in generator.calls] == [4, 2, 2]  # ragged: the quick ones left after turn 1
    assert [len(t.turn_spans) for t in trajectories] == [3, 1, 1, 3]


def test_turn_and_token_limits_are_recorded(smollm2_tokenizer):
    looping = [["<search> Belvik </search>"]]
    (t,) = engine(smollm2_tokenizer, looping, max_turns=2)[0].rollout([0])
    assert (t.truncated, t.truncation, len(t.turn_spans)) == (True, "max_turns", 2)
    (t,) = engine(smollm2_tokenizer, looping, env_factory=lambda: TinyQAEnv(max_turns=3))[0].rollout([0])
    assert (t.truncated, t.truncation, len(t.turn_spans)) == (True, "env", 3)
    (t,) = engine(smollm2_tokenizer, looping, max_total_tokens=200)[0].rollout([0])
    assert t.truncation == "max_total_tokens" and t.num_tokens <= 200
    (t,) = engine(smollm2_tokenizer, [["<answer> Orvania is the answer </answer>"]], max_tokens_per_turn=3)[0].rollout([0])
    assert [e - s for s, e in t.turn_spans][0] == 3 and t.finish_reasons[0] == "length"


class Hanging(Tool):
    name = "search"
    parameters = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}

    def __init__(self, release):
        self.release = release

    def run(self, query):
        self.release.wait(30)
        return "late"


def test_a_hanging_step_times_out_without_stalling_the_batch(smollm2_tokenizer):
    release = threading.Event()
    made = []

    def factory():
        env = TinyQAEnv(reward="process")
        if not made:  # the first env's search hangs
            original = env._start_task

            def start(options):
                result = original(options)
                env._tools = {"search": Hanging(release)}
                return result

            env._start_task = start
        made.append(env)
        return env

    rollout, _ = engine(smollm2_tokenizer, [ORACLE], env_factory=factory, step_timeout=0.5)
    start = time.perf_counter()
    slow, fine = rollout.rollout([0, 1])
    release.set()
    assert time.perf_counter() - start < 10
    assert (slow.truncation, len(slow.turn_spans), slow.turn_rewards) == ("step_timeout", 1, [0.0])
    assert fine.terminated and fine.metrics["em"] == 1.0
    assert len(made) == 3  # the stuck env was replaced for the next rollout


def test_a_qwen25_style_template_with_tool_calls(smollm2_tokenizer):
    tok = copy.deepcopy(smollm2_tokenizer)
    tok.chat_template = (DATA / "qwen25_template.jinja").read_text()
    calls = ['<tool_call>\n{"name": "search", "arguments": {"query": "Zorvan Quist"}}\n</tool_call>', "<answer> Orvania </answer>"]
    rollout, generator = engine(tok, [calls], env_factory=lambda: TinyQAEnv(action_format="tool_call"))
    (t,) = rollout.rollout([0])
    assert t.terminated and t.metrics["em"] == 1.0
    text = tok.decode(t.prompt_ids + t.response_ids)
    assert '"name": "search"' in tok.decode(t.prompt_ids)  # the tool schema went in through tools=
    assert "<|im_start|>user\n<tool_response>\nDoc 1 (Title: Zorvan Quist)" in text
    assert generator.calls[1][0][: len(generator.calls[0][0])] == generator.calls[0][0]


def test_a_template_that_rewrites_earlier_turns_is_reported(smollm2_tokenizer):
    tok = copy.deepcopy(smollm2_tokenizer)
    tok.chat_template = (DATA / "strips_reasoning_template.jinja").read_text()
    rollout, _ = engine(tok, [["<think>first Zorvan</think><search> Zorvan Quist </search>"]])
    with pytest.raises(ChatTemplateError, match="does not keep earlier turns unchanged"):
        rollout.rollout([0])
    # The same template is fine while no reasoning is to be stripped.
    (t,) = engine(tok, [ORACLE])[0].rollout([0])
    assert t.terminated


def test_the_real_envs_run_through_the_engine(smollm2_tokenizer):
    scripts = [["<search> anything </search>", "<answer> x </answer>"]]
    generator = ScriptedGenerator(smollm2_tokenizer, scripts)
    rollout = RolloutEngine(generator, smollm2_tokenizer, "AgentR1/SynthHop-v0")
    trajectories = rollout.rollout(list(range(4)), group_size=2)
    assert len({t.task_id for t in trajectories}) == 4
    assert all(t.terminated and len(t.turn_spans) == 2 for t in trajectories)
    rollout.close()


def test_teacher_forcing_gives_oracle_trajectories_with_the_same_contract(smollm2_tokenizer):
    rollout = RolloutEngine(None, smollm2_tokenizer, "AgentR1/SynthHop-v0")
    trajectories = rollout.rollout([0, 1, 2], teacher=lambda env: env.unwrapped.oracle_action())
    for t in trajectories:
        assert t.terminated and t.metrics["em"] == 1.0
        text = smollm2_tokenizer.decode(t.prompt_ids + t.response_ids)
        assert text.endswith("</answer>")
        for start, end in t.turn_spans:
            turn = smollm2_tokenizer.decode(t.response_ids[start:end])
            assert turn.startswith(("<search>", "<answer>")) and all(t.loss_mask[start:end])
        assert set(t.logprobs) == {0.0}


class Hinted(gym.ObservationWrapper):
    """Appends a hint to every observation, the task statement included."""

    def observation(self, observation):
        return f"{observation} [hint: search first]" if observation else observation


def test_a_wrapper_that_changes_observations_changes_what_the_model_reads(smollm2_tokenizer):
    plain, hinted = (RolloutEngine(None, smollm2_tokenizer, "tiny", env_factory=factory) for factory in (
        lambda: TinyQAEnv(), lambda: Hinted(TinyQAEnv())))
    teacher = lambda env: env.unwrapped.oracle_action()  # noqa: E731
    (p,), (h,) = plain.rollout([0], teacher=teacher), hinted.rollout([0], teacher=teacher)
    hint = "[hint: search first]"
    assert hint not in smollm2_tokenizer.decode(p.prompt_ids + p.response_ids)
    assert smollm2_tokenizer.decode(h.prompt_ids).count(hint) == 1  # the task statement
    observations = [m for m in h.messages[1:] if m["role"] != "assistant"]
    assert observations and all(m["content"].endswith(hint) for m in observations)
    # Each observation the model reads, in its tokens, ends with the hint; the model's own turns do not change.
    text = smollm2_tokenizer.decode(h.response_ids)
    assert text.count(hint) == len(observations)
    assert [smollm2_tokenizer.decode(h.response_ids[s:e]) for s, e in h.turn_spans] == \
        [smollm2_tokenizer.decode(p.response_ids[s:e]) for s, e in p.turn_spans]
    assert h.metrics["em"] == p.metrics["em"] == 1.0
