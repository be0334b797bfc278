"""Keeping a colocated vLLM engine serving the policy being trained.

vLLM loads the base checkpoint once; after every optimiser step it must serve the updated policy, or the
rollouts sample from a stale one (and their recorded log-probs no longer match what the loss recomputes).
The weights are handed over in the checkpoint's own names, the LoRA deltas added functionally: merging the
adapter into the trained model and unmerging it again (as TRL does) would leave rounding residue in the
frozen base weights after every step.
"""

from __future__ import annotations

from typing import Iterator

import torch

from agent_r1.trainer.rollout.phases import PhaseClock


def _lora_deltas(base: torch.nn.Module) -> dict[str, torch.Tensor]:
    """{base-layer weight name: the sum of its active adapters' deltas} for every unmerged LoRA layer."""
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return {}
    deltas = {}
    for name, module in base.named_modules():
        if not isinstance(module, LoraLayer) or module.merged:
            continue
        variants = getattr(module, "lora_variant", {})  # DoRA and the like: a delta that is not B @ A
        if any(module.use_dora.get(a, False) or variants.get(a) is not None for a in module.active_adapters):
            raise NotImplementedError(f"{name}: serving a LoRA variant (DoRA, ...) to vLLM is not supported")
        adapters = [a for a in module.active_adapters if a in module.lora_A or a in module.lora_embedding_A]
        if adapters:
            deltas[f"{name}.base_layer.weight"] = sum(module.get_delta_weight(a) for a in adapters)
    return deltas


@torch.no_grad()
def served_weights(model: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """The language model's weights as its base checkpoint names them, with the LoRA adapters' deltas added.

    The adapter's own matrices and PPO's value head are not part of the language model and are left out.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    deltas = _lora_deltas(base)
    for name, param in base.named_parameters():
        if ".lora_" in name or name.startswith("value_head."):
            continue
        if "modules_to_save" in name or "original_module" in name:
            raise NotImplementedError(f"{name}: serving PEFT's modules_to_save to vLLM is not supported")
        tensor = param.detach()
        if name in deltas:
            tensor = tensor + deltas[name].to(tensor.dtype)
        yield name.replace(".base_layer.", "."), tensor


class PolicySync:
    """What TRL's GRPOTrainer calls `vllm_generation` in colocate mode, reduced to what a custom rollout needs:
    `sync_weights()`, which TRL calls before a rollout whenever the optimiser stepped since the last one."""

    def __init__(self, generator, model: torch.nn.Module, clock: PhaseClock | None = None) -> None:
        self.generator, self.model = generator, model
        self.clock = clock or PhaseClock()

    def sync_weights(self) -> None:
        with self.clock.phase("weight_sync"):
            self.generator.load_weights(served_weights(self.model))
