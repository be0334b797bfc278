"""AgentR1/HotpotQA-v0, AgentR1/2WikiMultihopQA-v0, AgentR1/MuSiQue-v0: the real datasets."""

from __future__ import annotations

import functools
import numbers
from pathlib import Path
from typing import Any, Mapping

from agent_r1.envs.datasets.corpus import corpus_searcher
from agent_r1.envs.datasets.download import dataset_file
from agent_r1.envs.datasets.formats import load_records
from agent_r1.envs.datasets.records import QARecord
from agent_r1.envs.qa_env import QAEnv, QATask, title_key
from agent_r1.envs.registration import DATASET_ENV_IDS
from agent_r1.tools.paths import DATA_ENV, DEFAULT_ENCODER
from agent_r1.tools.remote import RemoteRetriever
from agent_r1.tools.retriever import RETRIEVERS, BM25Retriever, Retriever, build_retriever

SETTINGS = ("distractor", "pooled", "corpus", "remote")


def _stamp(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


# Parsed records and pooled indexes are shared by every env of a process (a
# vector env makes several), keyed by the file's identity.
@functools.lru_cache(maxsize=8)
def _records(dataset: str, stamp: tuple[str, int, int], need_paragraphs: bool) -> tuple[QARecord, ...]:
    return tuple(load_records(dataset, stamp[0], need_paragraphs=need_paragraphs))


@functools.lru_cache(maxsize=4)
def _pooled(dataset: str, stamp: tuple[str, int, int], retriever: str = "bm25", encoder: str = DEFAULT_ENCODER) -> Retriever:
    paragraphs = list({p.id: p for record in _records(dataset, stamp, True) for p in record.paragraphs}.values())
    return build_retriever(paragraphs, retriever, encoder=encoder)


@functools.lru_cache(maxsize=2)
def _corpus(stamp: tuple[str, int, int], retriever: str = "bm25", encoder: str = DEFAULT_ENCODER) -> Retriever:
    return corpus_searcher(stamp[0], retriever, encoder=encoder)


def resolve_data_path(dataset: str, split: str, data_path: str | Path | None) -> Path:
    if data_path is not None:
        path = Path(data_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"data_path {str(path)!r} is not a file")
        return path
    path = dataset_file(dataset, split).path()
    if not path.is_file():
        raise FileNotFoundError(
            f"no {dataset} {split} data at {path}. Download it with\n"
            f"    agent-r1 data download {dataset} --split {split}\n"
            f"or set {DATA_ENV} to the folder that holds {dataset}/{path.name}, "
            f"or pass gym.make({DATASET_ENV_IDS[dataset]!r}, data_path='/path/to/{path.name}')."
        )
    return path


class MultiHopQAEnv(QAEnv):
    """A question of the dataset per episode, searched in one of four settings:

    - `distractor`: the question's own context paragraphs (10, or 20 for MuSiQue);
    - `pooled`: one BM25 index over every paragraph of the split (the default);
    - `corpus`: a passage file (`corpus_path`), e.g. the 2018 Wikipedia dump;
    - `remote`: a Search-R1-compatible retrieval server (`retriever_url`).

    In the first two, gold passages are matched by paragraph; in the last two, by title,
    and so a record needs no paragraphs of its own there: the official open-domain files
    (HotpotQA fullwiki, FlashRAG question files) load only in those two.
    `reset(options={"index": i})` picks the i-th question instead of a random one; an
    index that is not an integer from 0 to the number of questions is a ValueError.
    """

    def __init__(
        self,
        *,
        dataset: str,
        split: str = "dev",
        data_path: str | Path | None = None,
        setting: str = "pooled",
        corpus_path: str | Path | None = None,
        retriever_url: str | None = None,
        retriever_timeout: float = 10.0,
        retriever: str = "bm25",
        encoder: str = DEFAULT_ENCODER,
        max_turns: int = 6,
        **kwargs: Any,
    ) -> None:
        super().__init__(max_turns=max_turns, **kwargs)
        if setting not in SETTINGS:
            raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
        if retriever not in RETRIEVERS:
            raise ValueError(f"retriever must be one of {RETRIEVERS}, got {retriever!r}")
        if retriever != "bm25" and setting not in ("pooled", "corpus"):
            raise ValueError(f"retriever={retriever!r} searches the pooled or corpus setting's passages; "
                             f"the {setting} setting searches {'its own paragraphs with BM25' if setting == 'distractor' else 'with the server'}")
        if setting == "corpus" and corpus_path is None:
            raise ValueError("the corpus setting needs corpus_path (a JSON Lines passage file)")
        if setting == "remote" and retriever_url is None:
            raise ValueError("the remote setting needs retriever_url (e.g. http://127.0.0.1:8000/retrieve)")
        self.dataset, self.split, self.setting = dataset, split, setting
        stamp = _stamp(resolve_data_path(dataset, split, data_path))
        self.data_file = Path(stamp[0])  # resolved: a trainer compares its training and evaluation files by it
        self.records = _records(dataset, stamp, setting in ("distractor", "pooled"))
        self._shared: Retriever | None = None
        if setting == "pooled":
            self._shared = _pooled(dataset, stamp, retriever, encoder)
        elif setting == "corpus":
            self._shared = _corpus(_stamp(Path(corpus_path).expanduser()), retriever, encoder)
        elif setting == "remote":
            self._shared = RemoteRetriever(retriever_url, timeout=retriever_timeout)

    def _sample_task(self, options: Mapping[str, Any]) -> QATask:
        index = options.get("index")
        if index is None:
            index = int(self.np_random.integers(len(self.records)))
        record = self.records[self._checked_index(index)]
        by_title = self.setting in ("corpus", "remote")
        gold: dict[str, str] = {}  # gold key -> the oracle's query (the paragraph's title)
        for paragraph in record.supporting:
            gold.setdefault(title_key(paragraph.title) if by_title else paragraph.id, paragraph.title)
        return QATask(
            id=record.id,
            question=record.question,
            answers=record.answers,
            supporting_ids=tuple(gold),
            oracle_queries=tuple(gold.values()),
            retriever=self._shared or BM25Retriever(record.paragraphs),
            match_gold_by="title" if by_title else "id",
        )

    def _checked_index(self, index: Any) -> int:
        # A float, a string or a bool would index the wrong question or fail deep inside.
        if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not 0 <= index < len(self.records):
            raise ValueError(
                f"options['index'] must be an integer in [0, {len(self.records)}) "
                f"(this split has {len(self.records)} questions), got {index!r}"
            )
        return int(index)
