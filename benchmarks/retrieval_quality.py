"""Retrieval on the real datasets: index size and speed, and recall of the gold paragraphs.

    python -m agent_r1.benchmarks.retrieval_quality                       # the shared samples
    python -m agent_r1.benchmarks.retrieval_quality --data ../shared/data --corpus ../shared/data/wiki18/sample_1000.jsonl

For each dataset and setting it searches with the question itself (no agent),
as a naive retrieve-once baseline would, and reports recall@k of the gold
paragraphs: the share of a question's gold paragraphs in its top k, averaged
over questions.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from agent_r1.envs.datasets.corpus import corpus_retriever
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


def measure(dataset: str, path: Path, corpus: Path | None) -> list[dict]:
    records = load_records(dataset, path)
    rows = []

    # distractor: a small index per question, built at reset
    start = time.perf_counter()
    per_question = [BM25Retriever(r.paragraphs) for r in records]
    build = (time.perf_counter() - start) / len(records)
    retrievers = dict(zip((r.id for r in records), per_question))
    recall, latencies = _recall(records, lambda r: retrievers[r.id].search(r.question, max(KS)))
    rows.append({"dataset": dataset, "setting": "distractor", "questions": len(records),
                 "passages": float(np.mean([len(r.paragraphs) for r in records])),
                 "build_s": build, "p50_ms": float(np.median(latencies) * 1000), **recall})

    # pooled: one index over every paragraph of the split
    paragraphs = list({p.id: p for r in records for p in r.paragraphs}.values())
    start = time.perf_counter()
    pooled = BM25Retriever(paragraphs)
    build = time.perf_counter() - start
    recall, latencies = _recall(records, lambda r: pooled.search(r.question, max(KS)))
    rows.append({"dataset": dataset, "setting": "pooled", "questions": len(records), "passages": len(paragraphs),
                 "build_s": build, "p50_ms": float(np.median(latencies) * 1000), **recall})

    if corpus is not None:
        start = time.perf_counter()
        retriever = corpus_retriever(corpus)
        build = time.perf_counter() - start
        recall, latencies = _recall(records, lambda r: retriever.search(r.question, max(KS)), by_title=True)
        rows.append({"dataset": dataset, "setting": f"corpus ({corpus.name})", "questions": len(records),
                     "passages": len(retriever.passages), "build_s": build,
                     "p50_ms": float(np.median(latencies) * 1000), **recall})
    return rows


def format_rows(rows: list[dict]) -> str:
    header = "| dataset | setting | questions | passages | index build | search p50 | " + " | ".join(f"R@{k}" for k in KS) + " |"
    lines = [header, "|" + "---|" * (6 + len(KS))]
    for r in rows:
        passages = f"{r['passages']:.1f} per question" if r["setting"] == "distractor" else f"{r['passages']:,}"
        build = f"{r['build_s'] * 1000:.2f} ms per question" if r["setting"] == "distractor" else f"{r['build_s']:.2f} s"
        recalls = " | ".join(f"{r[f'recall@{k}']:.3f}" for k in KS)
        lines.append(f"| {r['dataset']} | {r['setting']} | {r['questions']} | {passages} | {build} | {r['p50_ms']:.3f} ms | {recalls} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", help="the folder with the dataset samples")
    parser.add_argument("--corpus", help="also measure the corpus setting with this passage file")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)
    rows = []
    for dataset, relative in SAMPLES.items():
        path = Path(args.data) / relative
        if not path.exists():
            print(f"skipping {dataset}: {path} not found")
            continue
        rows += measure(dataset, path, Path(args.corpus) if args.corpus else None)
    print(format_rows(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
