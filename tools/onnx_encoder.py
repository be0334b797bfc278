"""A sentence encoder run by ONNX Runtime: the vectors sentence-transformers gives, in half the time.

A dense query's cost is almost all the encoding of its question, and one short question is a small graph whose
time goes largely to running its operators one by one. ONNX Runtime runs the same graph with fused operators:
7.6 ms p50 a question on 2 cores against sentence-transformers' 16.3 ms (`benchmarks/dense_cost.py`, side by
side).

The whole sentence-transformers pipeline (transformer, pooling, normalisation) is exported once per encoder into
the data home, and every load checks that the exported graph gives the torch model's vectors on probe sentences.
Where onnxruntime is missing or the graph fails the check (an export torch cannot trace, a corrupt file),
`onnx_encoder` says why and returns None, and the caller keeps sentence-transformers. Tokenisation stays
sentence-transformers' own, so both runtimes see the same tokens.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

# Probe sentences for the check: a question, a passage-length text and a one-word text (padding in a batch)
PROBES = ("Which magazine was started first, Arthur's Magazine or First for Women?",
          "Arthur's Magazine (1844-1846) was an American literary periodical published in Philadelphia in the 19th "
          "century. Edited by T.S. Arthur, it featured work by Edgar A. Poe, J.H. Ingraham and Sarah Josepha Hale.",
          "Cork")
# The least cosine between the two runtimes' vectors of a probe; a float32 graph gives about 1 - 1e-7
LEAST_COSINE = 0.9999


class OnnxEncoder:
    """Encodes texts as the sentence-transformers `model` does (normalised where it normalises), with onnxruntime."""

    def __init__(self, model, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _torch_threads()
        # Its threads would otherwise spin after each call, taking the cores from torch (a policy in training)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dim = self.session.get_outputs()[0].shape[-1]
        self.preprocess = getattr(model, "preprocess", None) or model.tokenize  # tokenize before 6.0

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        # Batches of similar lengths pad little, as sentence-transformers sorts them too
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in tqdm(range(0, len(texts), batch_size), desc="Batches", disable=not progress):
            chosen = order[start:start + batch_size]
            features = self.preprocess([texts[i] for i in chosen])
            out[chosen] = self.session.run(None, {n: features[n].numpy().astype(np.int64) for n in self.inputs})[0]
        return out


def onnx_encoder(model, encoder_key: str, cache_dir: Path) -> OnnxEncoder | None:
    """The ONNX Runtime twin of a loaded SentenceTransformer, exported on first use; None (logged) where unusable."""
    try:
        import onnxruntime
        import torch
    except ImportError as exc:
        logger.info("encoding with sentence-transformers: %s is not installed", exc.name)
        return None
    key = hashlib.sha256(json.dumps([encoder_key, torch.__version__, onnxruntime.__version__]).encode()).hexdigest()
    path = Path(cache_dir) / f"{key[:24]}.onnx"
    for attempt in ("cached", "exported") if path.exists() else ("exported",):
        try:
            if attempt == "exported":
                started = time.perf_counter()
                _export(model, path)
                logger.info("exported %s to ONNX in %.0f s: %s", encoder_key, time.perf_counter() - started, path)
            encoder = OnnxEncoder(model, path)
            _check(model, encoder)
            return encoder
        except Exception as exc:  # noqa: BLE001 - any failure to export, load or match means: keep torch
            logger.warning("the %s ONNX graph of %s is unusable (%s: %s)", attempt, encoder_key,
                           type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            if attempt == "exported":
                logger.warning("encoding with sentence-transformers instead")
    return None


def _export(model, path: Path) -> None:
    import torch

    features = (getattr(model, "preprocess", None) or model.tokenize)(list(PROBES))
    names = [n for n in model.tokenizer.model_input_names if n in features]

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(dict(zip(names, tensors)))["sentence_embedding"]

    # Batch and length vary; the inputs arrive as one variadic argument, so their shapes are one tuple
    dynamic = {"tensors": tuple({0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC} for _ in names)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with torch.inference_mode(False), torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(Pipeline().eval(), tuple(features[n] for n in names), input_names=names,
                                    output_names=["sentence_embedding"], dynamic_shapes=dynamic, dynamo=True,
                                    external_data=False, verbose=False)
    program.save(str(tmp))
    os.replace(tmp, path)


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter logs each of its optimisation passes, and missing torchvision ops as warnings: none of it news."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for log, level in zip(loggers, levels):
            log.setLevel(level)


def _check(model, encoder: OnnxEncoder) -> None:
    expected = model.encode(list(PROBES), convert_to_numpy=True, show_progress_bar=False)
    got = encoder.encode(list(PROBES))
    cosine = (expected * got).sum(1) / (np.linalg.norm(expected, axis=1) * np.linalg.norm(got, axis=1))
    if got.shape != expected.shape or not np.all(cosine >= LEAST_COSINE):
        raise ValueError(f"its vectors differ from the torch model's (cosine {cosine.min():.6f})")


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()
