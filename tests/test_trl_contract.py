"""The private TRL and transformers methods that AgentTrainer overrides or calls, as the pinned versions define them.

AgentTrainer subclasses GRPOTrainer and overrides methods whose names start
with an underscore: TRL may rename or reshape them in any release. When an
upgrade changes one, this file fails, in one place, naming it; otherwise the
override could silently stop being called. Upgrading TRL means reading what
changed in each method below, then updating the trainer and this list.
"""

import inspect

import pytest

pytest.importorskip("trl")

# method -> the parameter names (after self) the trainer relies on, in order.
OVERRIDDEN = {
    "_generate_and_score_completions": ["inputs"],
    "_compute_loss": ["model", "inputs"],
    "_prepare_inputs": ["generation_batch"],
    "_get_output_dir": ["trial"],
    "_save_checkpoint": ["model", "trial"],
    "_save": ["output_dir", "state_dict"],
    "_load_from_checkpoint": ["resume_from_checkpoint", "model"],
    "_load_optimizer_and_scheduler": ["checkpoint"],
}
CALLED = {"_get_per_token_logps_and_entropies": ["model", "input_ids", "attention_mask", "logits_to_keep", "batch_size"]}


def _parameters(function) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]


@pytest.mark.parametrize("name", sorted(OVERRIDDEN))
def test_each_overridden_method_exists_with_the_same_parameters(name):
    from trl import GRPOTrainer

    from agent_r1.trainer.agent_trainer import AgentTrainer

    base = getattr(GRPOTrainer, name, None)
    assert base is not None, f"GRPOTrainer no longer has {name}: AgentTrainer's override is never called"
    assert _parameters(base) == OVERRIDDEN[name], f"GRPOTrainer.{name} changed its parameters"
    assert _parameters(getattr(AgentTrainer, name)) == OVERRIDDEN[name]


def test_the_called_private_methods_take_what_the_trainer_passes():
    from trl import GRPOTrainer
    from transformers.trainer_utils import rotate_checkpoints

    for name, expected in CALLED.items():
        assert _parameters(getattr(GRPOTrainer, name))[: len(expected)] == expected, name
    assert {"output_dir", "save_total_limit", "best_model_checkpoint", "use_mtime"} <= set(_parameters(rotate_checkpoints))
    # The multi-turn episodes come in through rollout_func (test_trainer checks that env_mask masks observations).
    assert "rollout_func" in _parameters(GRPOTrainer.__init__)


def test_trl_syncs_and_corrects_a_custom_rollouts_vllm_sampler_as_the_trainer_expects():
    """AgentTrainer's vLLM sampler rides on TRL's colocate path: with `use_vllm` set, `_generate` calls
    `vllm_generation.sync_weights()` when the step moved past `_last_loaded_step` (also for a rollout_func), and the
    scoring and loss apply the truncated importance-sampling correction."""
    from trl import GRPOTrainer

    generate = inspect.getsource(GRPOTrainer._generate)
    assert "self.rollout_func" in generate and "self.vllm_generation.sync_weights()" in generate
    assert "self._last_loaded_step" in generate
    scoring = inspect.getsource(GRPOTrainer._generate_and_score_completions)
    assert "vllm_importance_sampling_correction" in scoring and '"token_truncate"' in scoring
    assert "importance_sampling_ratio" in inspect.getsource(GRPOTrainer._compute_loss)
