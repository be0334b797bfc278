"""The importance-sampling correction for a sampler other than the policy, from the loss's own forward pass.

With vLLM, TRL rescores every sampled token with the policy before the step (a forward pass over the whole batch,
no gradient) to weigh each token's loss by the truncated ratio policy / sampler. When the step is the batch's only
optimiser step (one rollout per step and one pass over it, as agent-r1 trains), the policy that rescores is the
very policy whose loss is then computed: the loss's forward pass already gives those log-probabilities, so the
rescoring pass is computed twice. On a CPU that pass costs as much as the loss's forward (13 of a 24 s step with
vLLM in bfloat16: docs/training.md). Here the ratio is taken from the loss's forward, detached, exactly as TRL
takes it from its rescoring pass; the gradient is the same (tests/test_weight_sync.py), and the ratio's statistics
are logged under TRL's names, over the micro-batches that were computed.
"""

from __future__ import annotations

import torch

MODES = ("token_truncate", "token_mask")  # per-token ratios: a micro-batch's own tokens are all they need


def fusable(trainer) -> bool:
    """Whether the correction can come from the loss's forward: TRL would rescore, the step is the batch's only one
    (so the policy that rescores is the one that computes the loss), and the ratio is per token."""
    generate_every = trainer.args.steps_per_generation * trainer.num_iterations
    return (trainer.use_vllm and trainer.vllm_importance_sampling_correction and trainer.num_iterations == 1
            and trainer.args.gradient_accumulation_steps % generate_every == 0
            and trainer.vllm_importance_sampling_mode in MODES and trainer.loss_type != "vespo"
            and trainer.off_policy_mask_threshold is None)


def importance_ratio(trainer, logps: torch.Tensor, inputs: dict, stats: "RatioStats") -> torch.Tensor:
    """(B, T): the truncated (or masked) ratio of the policy's probability of each sampled token to the sampler's,
    TRL's token modes computed from `logps` (the loss's forward) instead of a rescoring pass."""
    mask = inputs["completion_mask"] * inputs.get("tool_mask", 1)
    difference = (logps.detach() - inputs["sampling_per_token_logps"]) * mask
    ratio = torch.exp(difference)
    low, high = trainer.vllm_importance_sampling_clip_min, trainer.vllm_importance_sampling_clip_max
    if trainer.vllm_importance_sampling_mode == "token_truncate":
        ratio = torch.clamp(ratio, min=low, max=high)
    else:
        outside = (ratio < (low if low is not None else 0.0)) | (ratio > (high if high is not None else float("inf")))
        ratio = ratio.masked_fill(outside, 0.0)
    stats.add(ratio, difference.abs(), mask.bool())
    return ratio


class RatioStats:
    """The step's ratios and log-prob differences over its micro-batches, logged once a step under TRL's names."""

    REPORTED = {"sampling_logp_difference": ("mean", "max"), "importance_sampling_ratio": ("min", "mean", "max")}

    def __init__(self) -> None:
        self.values: dict[str, list[torch.Tensor]] = {name: [] for name in self.REPORTED}

    def add(self, ratio: torch.Tensor, delta: torch.Tensor, mask: torch.Tensor) -> None:
        self.values["sampling_logp_difference"].append(delta[mask & ~torch.isnan(delta)].float())
        self.values["importance_sampling_ratio"].append(ratio[mask].float())

    def flush(self, trainer) -> None:
        """Appends the step's statistics to the trainer's metrics. Every process gathers, so every process calls it,
        one whose micro-batches were all skipped too (it sends NaN, left out)."""
        for name, stats in self.REPORTED.items():
            values = torch.cat(self.values[name]) if self.values[name] else torch.zeros(0)
            self.values[name] = []
            for stat in stats:
                reduce = getattr(torch, stat)  # over every element: the min, mean or max
                local = reduce(values) if values.numel() else torch.tensor(float("nan"))
                gathered = trainer.accelerator.gather(local.reshape(1).to(trainer.accelerator.device))
                gathered = gathered[~torch.isnan(gathered)]
                if gathered.numel():
                    trainer._metrics["train"][f"sampling/{name}/{stat}"].append(reduce(gathered).item())
