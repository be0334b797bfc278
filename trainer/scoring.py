"""The log-probabilities and entropies of the tokens the loss reads, and of no others.

TRL scores a micro-batch through its fused LM head, which projects positions onto the vocabulary (49,152 tokens
for SmolLM2) and normalises them: on a GPU with Triton only the completion's positions, elsewhere (a CPU) every
position of every row, the prompt's too. In a multi-turn episode most completion tokens are observations that the
loss masks out (about 85% in the paper experiment). This runs the model's forward once, projecting only its last
position (`logits_to_keep=1`, so the call still goes through every wrapper: PEFT, accelerate, DDP), takes the last
hidden states from the backbone, and projects only the positions the loss reads.
"""

from __future__ import annotations

import torch
from accelerate.utils import extract_model_from_parallel

from agent_r1.trainer.value_head import captured_hidden_states

# Config attributes by which a model transforms its logits beyond the LM head (Gemma's softcapping, Cohere's and
# Granite's scales): TRL's fused head applies them; models that have any keep TRL's scoring.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")


def plain_lm_head(config) -> bool:
    """Whether the model's logits are its LM head's output, unscaled."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return all(getattr(text, name, None) is None for name in _LOGIT_TRANSFORMS)


def _lm_head(model):
    return extract_model_from_parallel(model).get_output_embeddings()  # under DDP and accelerate's other wrappers


def scored_logps_and_entropies(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, scored: torch.Tensor,
                               temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(logps, entropies), each (B, K) for the last K = scored.size(1) tokens of each row, under
    log_softmax(logits / temperature); 0 where `scored` is false."""
    width = scored.size(1)
    with captured_hidden_states(model) as hidden:
        model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=1, use_cache=False)
    states = hidden[-1][:, -width - 1 : -1][scored]  # the state at position t predicts token t + 1
    logits = _lm_head(model)(states).float() / temperature
    logps = torch.log_softmax(logits, dim=-1)
    token_logps = logps.gather(1, input_ids[:, -width:][scored][:, None]).squeeze(1)
    entropies = -(logps.exp() * logps).sum(-1)
    zeros = torch.zeros(scored.shape, dtype=token_logps.dtype, device=token_logps.device)
    return zeros.masked_scatter(scored, token_logps), zeros.masked_scatter(scored, entropies)
