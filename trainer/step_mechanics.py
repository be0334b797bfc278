"""How AgentTrainer computes a step: micro-batches, the tokens the loss scores, the micro-batches it skips, the
importance ratio a vLLM sampler needs (from the loss's own forward: trainer/fused_correction.py), and where the
step's time goes. A mixin over TRL's GRPOTrainer; none of it changes the gradient (tests/test_micro_batches.py
compares it with TRL's own computation of the same step).
"""

from __future__ import annotations

import time

import torch
from transformers import TrainerCallback

from agent_r1.trainer.fused_correction import RatioStats, fusable, importance_ratio
from agent_r1.trainer.micro_batches import contributes_nothing, micro_batches
from agent_r1.trainer.rollout.phases import PhaseClock, breakdown, peak_resident_gb, release_freed_memory, resident_gb
from agent_r1.trainer.scoring import plain_lm_head, scored_logps_and_entropies


class OptimizerClock(TrainerCallback):
    """Times the optimiser's step (transformers calls it between these two events)."""

    def __init__(self, clock: PhaseClock) -> None:
        self.clock, self.started = clock, 0.0

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.clock.add("optimizer", time.perf_counter() - self.started)


class StepMechanics:
    """Needs, from the trainer: `clock` (a PhaseClock), `value_head` (None but for PPO), and `_init_step_mechanics`
    called before GRPOTrainer's constructor."""

    def _init_step_mechanics(self, model) -> None:
        self.clock = PhaseClock()  # where each step's time goes (trainer/rollout/phases.py)
        self.phase_seconds: dict[str, float] = {}  # the breakdown summed over this session's steps
        self.skipped_micro_batches = 0
        self._scored = None  # the loss mask of the tokens being scored (a micro-batch's loss, or vLLM's samples)
        self._plain_lm_head = plain_lm_head(model.config)
        self._ratio_inputs = None  # a micro-batch whose loss needs the importance ratio from its own forward
        self._ratio_stats = RatioStats()

    def training_step(self, model, inputs, num_items_in_batch):
        with self.clock.phase("step"):
            return super().training_step(model, inputs, num_items_in_batch)

    def _prepare_inputs(self, generation_batch):
        """TRL's, but cut into micro-batches by trainer/micro_batches.py instead of shuffled slices."""
        if not self.model.training:
            return super()._prepare_inputs(generation_batch)
        with self.clock.phase("inputs"):
            generate_every = self.args.steps_per_generation * self.num_iterations
            if self._step % generate_every == 0 or self._buffered_inputs is None:
                batch = self._generate_and_score_completions(generation_batch)
                self._buffered_inputs = micro_batches(batch, self.args.steps_per_generation)
            return self._buffered_inputs[self._step % self.args.steps_per_generation]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.model.training and self._loss_is_policy_gradient_only() and contributes_nothing(inputs):
            # Every advantage is zero: so is the loss and its gradient, which costs a one-token forward instead.
            self.skipped_micro_batches += 1
            return self._zero_loss(model, inputs)
        # The loss reads only the model's tokens: _get_per_token_logps_and_entropies scores those alone.
        self._scored = (inputs["completion_mask"] * inputs.get("tool_mask", 1)) > 0
        if self.model.training and "sampling_per_token_logps" in inputs and fusable(self):
            self._ratio_inputs = inputs
        try:
            with self.clock.phase("forward"):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            self._scored = self._ratio_inputs = None

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **multimodal):
        """TRL's, or, while `_scored` is set for a text-only model, trainer/scoring.py's (the same numbers where the
        loss reads them, 0 elsewhere)."""
        scored = self._scored
        if (scored is None or compute_aux_loss or scored.size(1) != logits_to_keep or not self._plain_lm_head
                or any(value is not None for value in multimodal.values())):
            logps, entropies, aux = super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss,
                **multimodal)
        else:
            with self.accelerator.autocast():
                logps, entropies = scored_logps_and_entropies(model, input_ids, attention_mask, scored, self.temperature)
            entropies, aux = entropies if compute_entropy else None, None
        if self._ratio_inputs is not None:  # the loss's forward: TRL reads the ratio from its inputs further on
            inputs, self._ratio_inputs = self._ratio_inputs, None
            inputs["importance_sampling_ratio"] = importance_ratio(self, logps, inputs, self._ratio_stats)
        return logps, entropies, aux

    @staticmethod
    def _zero_loss(model, inputs) -> torch.Tensor:
        """A zero loss from a one-token forward through `model`, wrappers included: data-parallel training needs a
        forward before each backward, and gradients (all zero) for every trainable weight."""
        ids = inputs["prompt_ids"][:1, -1:]
        output = model(input_ids=ids, attention_mask=torch.ones_like(ids), logits_to_keep=1, use_cache=False)
        return output.logits.sum() * 0.0

    def _loss_is_policy_gradient_only(self) -> bool:
        """Whether the loss is the clipped policy gradient alone (no KL term, entropy bonus, value or MoE loss)."""
        return (self.beta == 0.0 and self.value_head is None and not self.aux_loss_enabled
                and not self._entropy_bonus_enabled)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self.model.training and "loss" in logs:  # a training step's record: where its time went
            for name, seconds in breakdown(self.clock.take()).items():
                logs[f"time/{name}"] = seconds
                self.phase_seconds[name] = self.phase_seconds.get(name, 0.0) + seconds
            logs["time/skipped_micro_batches"] = self.skipped_micro_batches
            if fusable(self):
                self._ratio_stats.flush(self)  # TRL's log() adds the metrics to this record
            release_freed_memory()  # so that the resident memory logged is what the run holds, not glibc's free pages
            logs["memory/resident_gb"], logs["memory/peak_gb"] = resident_gb(), peak_resident_gb()
            self.skipped_micro_batches = 0
        super().log(logs, start_time)
