"""Retrieval on the real datasets: index size and speed, and recall of the gold paragraphs.

    python -m agent_r1.benchmarks.retrieval_quality                       # the shared samples
    python -m agent_r1.benchmarks.retrieval_quality --data ../shared/data --corpus ../shared/data/wiki18/sample_1000.jsonl
    python -m agent_r1.benchmarks.retrieval_quality --retrievers bm25,dense,hybrid \
        --distractors ../shared/data/beir/hotpotqa_corpus_27654.jsonl --datasets hotpotqa

For each dataset and setting it searches with the question itself (no agent),
as a naive retrieve-once baseline would, and reports recall@k of the gold
paragraphs: the share of a question's gold paragraphs in its top k, averaged
over questions. `--retrievers` compares BM25, dense (the default encoder) and
hybrid in the pooled and corpus settings, side by side; dense's index build
includes encoding every passage (no cache). `--distractors FILE` adds a
passage file to the pooled index (e.g. BEIR's HotpotQA Wikipedia passages);
gold is then matched by title, since the file may hold the gold articles'
passages under its own ids.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from agent_r1.envs.datasets.corpus import load_passages
from agent_r1.envs.datasets.formats import load_records
from agent_r1.envs.datasets.records import QARecord
from agent_r1.envs.qa_env import title_key
from agent_r1.tools.retriever import BM25Retriever

SAMPLES = {
    "hotpotqa": "hotpotqa/dev_distractor_500.jsonl",
    "2wikimultihopqa": "2wikimultihopqa/dev_500.jsonl",
    "musique": "musique/dev_100.jsonl",
}
KS = (1, 3, 5, 10)


def _recall(records: list[QARecord], search, by_title: bool = False) -> tuple[dict[str, float], list[float]]:
    hits_at = {k: [] for k in KS}
    latencies = []
    for record in records:
        gold = {title_key(p.title) if by_title else p.id for p in record.supporting}
        start = time.perf_counter()
        hits = search(record)
        latencies.append(time.perf_counter() - start)
        keys = [title_key(h.passage.title) if by_title else h.passage.id for h in hits]
        for k in KS:
            hits_at[k].append(len(gold & set(keys[:k])) / len(gold))
    return {f"recall@{k}": float(np.mean(v)) for k, v in hits_at.items()}, latencies


def searchers(passages: list, names: list[str], cache_dir: Path) -> dict[str, tuple[object, float]]:
    """name -> (retriever, seconds to build it); hybrid reuses the BM25 and dense indexes (its build: theirs)."""
    built: dict[str, tuple[object, float]] = {}
    for name in ("bm25", "dense"):
        if name in names or "hybrid" in names:
            start = time.perf_counter()
            if name == "bm25":
                retriever = BM25Retriever(passages)
            else:
                from agent_r1.tools.dense import DenseRetriever

                retriever = DenseRetriever(passages, cache_dir=cache_dir)  # a progress bar while it encodes
            built[name] = (retriever, time.perf_counter() - start)
    if "hybrid" in names:
        from agent_r1.tools.hybrid import bm25_dense

        built["hybrid"] = (bm25_dense(built["bm25"][0], built["dense"][0]), built["bm25"][1] + built["dense"][1])
    return {name: built[name] for name in names}


def measure(dataset: str, path: Path, corpus: Path | None, names: list[str] = ["bm25"],
            distractors: Path | None = None) -> list[dict]:
    import tempfile

    records = load_records(dataset, path)
    rows = []
    cache = Path(tempfile.mkdtemp(prefix="embeddings-"))  # dense builds encode afresh: what a first run pays

    # distractor: a small index per question, built at reset
    start = time.perf_counter()
    per_question = [BM25Retriever(r.paragraphs) for r in records]
    build = (time.perf_counter() - start) / len(records)
    retrievers = dict(zip((r.id for r in records), per_question))
    recall, latencies = _recall(records, lambda r: retrievers[r.id].search(r.question, max(KS)))
    rows.append({"dataset": dataset, "setting": "distractor", "retriever": "bm25", "questions": len(records),
                 "passages": float(np.mean([len(r.paragraphs) for r in records])),
                 "build_s": build, "p50_ms": float(np.median(latencies) * 1000),
                 "p99_ms": float(np.percentile(latencies, 99) * 1000), **recall})

    # pooled: one index over every paragraph of the split (and the distractor file's passages)
    paragraphs = list({p.id: p for r in records for p in r.paragraphs}.values())
    setting = "pooled"
    if distractors is not None:
        paragraphs += load_passages(distractors)
        setting = f"pooled + {distractors.name}"
    for name, (retriever, build) in searchers(paragraphs, names, cache).items():
        recall, latencies = _recall(records, lambda r: retriever.search(r.question, max(KS)), by_title=distractors is not None)
        rows.append({"dataset": dataset, "setting": setting, "retriever": name, "questions": len(records),
                     "passages": len(paragraphs), "build_s": build, "p50_ms": float(np.median(latencies) * 1000),
                     "p99_ms": float(np.percentile(latencies, 99) * 1000), **recall})

    if corpus is not None:
        passages = load_passages(corpus)
        for name, (retriever, build) in searchers(passages, names, cache).items():
            recall, latencies = _recall(records, lambda r: retriever.search(r.question, max(KS)), by_title=True)
            rows.append({"dataset": dataset, "setting": f"corpus ({corpus.name})", "retriever": name,
                         "questions": len(records), "passages": len(passages), "build_s": build,
                         "p50_ms": float(np.median(latencies) * 1000),
                         "p99_ms": float(np.percentile(latencies, 99) * 1000), **recall})
    return rows


def format_rows(rows: list[dict]) -> str:
    header = ("| dataset | setting | retriever | questions | passages | index build | search p50 / p99 | "
              + " | ".join(f"R@{k}" for k in KS) + " |")
    lines = [header, "|" + "---|" * (7 + len(KS))]
    for r in rows:
        passages = f"{r['passages']:.1f} per question" if r["setting"] == "distractor" else f"{r['passages']:,}"
        build = f"{r['build_s'] * 1000:.2f} ms per question" if r["setting"] == "distractor" else f"{r['build_s']:.2f} s"
        recalls = " | ".join(f"{r[f'recall@{k}']:.3f}" for k in KS)
        lines.append(f"| {r['dataset']} | {r['setting']} | {r['retriever']} | {r['questions']} | {passages} | {build} | "
                     f"{r['p50_ms']:.3f} / {r['p99_ms']:.3f} ms | {recalls} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", help="the folder with the dataset samples")
    parser.add_argument("--corpus", help="also measure the corpus setting with this passage file")
    parser.add_argument("--retrievers", default="bm25", help="comma-separated: bm25, dense, hybrid (default: bm25)")
    parser.add_argument("--distractors", help="a passage file added to the pooled index (gold is then matched by title)")
    parser.add_argument("--datasets", default=",".join(SAMPLES), help="comma-separated (default: all three)")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.retrievers.split(",") if n.strip()]
    if not names or set(names) - {"bm25", "dense", "hybrid"}:
        parser.error(f"--retrievers takes bm25, dense and hybrid, got {args.retrievers!r}")
    wanted = [d.strip() for d in args.datasets.split(",")]
    if set(wanted) - set(SAMPLES):
        parser.error(f"--datasets takes {', '.join(SAMPLES)}, got {args.datasets!r}")
    rows = []
    for dataset, relative in ((d, SAMPLES[d]) for d in wanted):
        path = Path(args.data) / relative
        if not path.exists():
            print(f"skipping {dataset}: {path} not found")
            continue
        rows += measure(dataset, path, Path(args.corpus) if args.corpus else None, names,
                        Path(args.distractors) if args.distractors else None)
    print(format_rows(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
