"""PPO's critic: a linear value head on the policy's last hidden states.

The head shares the policy's trunk (and its LoRA adapter), so a value costs no
second model: the last hidden states are captured from the backbone during the
policy's own forward (TRL's fused LM head never calls the head module, so the
hook sits on the backbone).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

FILE_NAME = "value_head.pt"


class ValueHead(nn.Module):
    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.linear.weight)  # starts predicting 0: no early critic noise in the advantages
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden.to(self.linear.weight.dtype)).squeeze(-1)

    def save(self, directory: str | Path) -> None:
        torch.save(self.state_dict(), Path(directory) / FILE_NAME)

    def load(self, directory: str | Path) -> bool:
        path = Path(directory) / FILE_NAME
        if not path.exists():
            return False
        self.load_state_dict(torch.load(path, map_location=self.linear.weight.device, weights_only=True))
        return True


def _backbone(model) -> nn.Module:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder()


@torch.no_grad()
def values_before_tokens(model, head: ValueHead, input_ids: torch.Tensor, attention_mask: torch.Tensor, width: int,
                         batch_size: int | None = None) -> torch.Tensor:
    """(B, width): V(s) before each of the last `width` tokens, from the backbone alone, `batch_size` rows a pass.
    The LM head is not run: for the default model its logits (49,152 a token) cost about a fifth of the pass and,
    with their log-softmax, most of its memory (a PPO step's value pass took 52 of 167 s and peaked at 15 GB)."""
    backbone, rows, values = _backbone(model), batch_size or input_ids.size(0), []
    for start in range(0, input_ids.size(0), rows):
        output = backbone(input_ids=input_ids[start:start + rows], attention_mask=attention_mask[start:start + rows],
                          use_cache=False)
        values.append(head(output.last_hidden_state[:, -(width + 1) : -1]))
    return torch.cat(values)


@contextmanager
def captured_hidden_states(model):
    """Yields a list that fills with the backbone's last hidden states, one tensor per forward call."""
    captured: list[torch.Tensor] = []

    def keep(module, args, output):
        captured.append(output[0] if isinstance(output, tuple) else output.last_hidden_state)

    handle = _backbone(model).register_forward_hook(keep)
    try:
        yield captured
    finally:
        handle.remove()
