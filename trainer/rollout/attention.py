"""Scaled dot-product attention that keeps grouped-query attention grouped when there is a mask.

transformers' "sdpa" attention expands the key/value heads (repeat_kv, a copy
of the whole KV cache in every layer at every step) whenever an attention
mask is present, which is always the case with padded batches. On the CPU,
torch's SDPA takes the grouped heads and a mask directly (`enable_gqa`), with
the same result: at 450 cached positions and batch 16, attention fell from
133 to 16 ms per decode step (30 layers) on the reference machine.

One case is left out of torch's SDPA: a single query per row (a decode step)
in bfloat16 or float16 on the CPU, where its flash kernel is about 7 times
slower than in float32 (1.8 against 0.27 ms per layer at batch 16 and 300
cached positions). Two small matmuls with the grouped heads and a float32
softmax take 0.27 ms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NAME = "sdpa_gqa"


def _single_query_attention(query, key, value, attention_mask, scaling):
    """Attention of one query per row, the query heads grouped over their key/value head: (batch, 1, heads, dim)."""
    batch, heads, _, dim = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    grouped = query.reshape(batch, kv_heads, heads // kv_heads, dim)
    # A cache's keys are often a view into a larger buffer: bf16 matmul against that view is 4x slower than a copy and a matmul.
    scores = torch.matmul(grouped, key.contiguous().transpose(-1, -2)).float() * (dim ** -0.5 if scaling is None else scaling)
    if attention_mask is not None:  # (batch, 1, 1, length): bool (True attends) or additive
        mask = attention_mask[..., -length:].reshape(batch, 1, 1, length)
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask.float()
    weights = scores.softmax(-1).to(value.dtype)
    return torch.matmul(weights, value).reshape(batch, 1, heads, dim)


def sdpa_gqa_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, is_causal=None, **kwargs):
    if query.shape[2] == 1 and query.dtype in (torch.bfloat16, torch.float16) and query.device.type == "cpu" and not (
            dropout and module.training):
        return _single_query_attention(query, key, value, attention_mask, scaling), None
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    causal = query.shape[2] > 1 and attention_mask is None and causal
    output = F.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling, is_causal=causal,
        enable_gqa=query.shape[1] != key.shape[1],
    )
    return output.transpose(1, 2).contiguous(), None


def register() -> str:
    """Registers the implementation with transformers (idempotent) and returns its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, sdpa_gqa_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME


def preferred_attention() -> str:
    """sdpa_gqa on the CPU; elsewhere transformers' sdpa, whose fused GPU kernels want expanded heads."""
    return register() if not torch.cuda.is_available() else "sdpa"
