"""Hybrid retrieval's fusion, chosen on training questions and measured on dev questions.

    python -m agent_r1.benchmarks.hybrid_tuning [--distractors ../shared/data/beir/hotpotqa_corpus_27654.jsonl]

HybridRetriever fuses BM25 and dense rankings by reciprocal rank: a passage scores the sum of weight / (k0 + rank).
Its generic defaults (k0 60, equal weights) are Cormack et al.'s, chosen for other collections; the hybrid the envs
build takes this script's choice instead (tools/hybrid.py, BM25_DENSE_K0 and BM25_DENSE_WEIGHTS). It picks k0 and
the dense weight by recall@5 on the HotpotQA *training* questions (their pooled paragraphs plus the distractor
file), then reports, on the dev questions (likewise pooled), BM25, dense, hybrid with the defaults and hybrid with
the chosen fusion, with the paired 95% bootstrap interval of each hybrid against BM25. Choosing on dev would
overstate the gain. Gold paragraphs are matched by title, as the distractor file may hold them under other ids.

The distractors' embeddings come from the data home's cache (the same key as `dense_cost`'s), each split's own
paragraphs are encoded apart, and the two exact rankings are merged by score: the same ranking as one index
over both, without encoding 27,654 passages again per split.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from agent_r1.benchmarks.evaluation.compare import paired_bootstrap
from agent_r1.benchmarks.retrieval_inputs import SHARED
from agent_r1.envs.datasets.corpus import load_passages
from agent_r1.envs.datasets.formats import load_records
from agent_r1.envs.qa_env import title_key
from agent_r1.tools.hybrid import reciprocal_rank_fusion
from agent_r1.tools.retriever import BM25Retriever, search_all

K = 5
DEPTH = 50  # each ranking is read this deep, as HybridRetriever reads it
K0S = (1, 5, 10, 20, 40, 60, 100)
DENSE_WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def rankings(split: Path, distractors: list, dense_distractors) -> tuple[list[set[str]], dict[str, list]]:
    """The gold titles of each question, and each retriever's top DEPTH for it over the pooled paragraphs."""
    from agent_r1.tools.dense import DenseRetriever

    records = load_records("hotpotqa", str(split))
    own = list({p.id: p for r in records for p in r.paragraphs}.values())
    asked = [r.question for r in records]
    dense_own = DenseRetriever(own)
    dense = [sorted(a + b, key=lambda h: -h.score)[:DEPTH]
             for a, b in zip(search_all(dense_own, asked, DEPTH), search_all(dense_distractors, asked, DEPTH))]
    bm25 = search_all(BM25Retriever(own + distractors), asked, DEPTH)
    gold = [{title_key(p.title) for p in r.supporting} for r in records]
    return gold, {"bm25": bm25, "dense": dense}


def recalls(gold: list[set[str]], hits: list[list]) -> list[float]:
    """Each question's recall@K: the share of its gold titles among its top K."""
    return [len(g & {title_key(h.passage.title) for h in top[:K]}) / len(g) for g, top in zip(gold, hits)]


def fused(lists: dict[str, list], k0: int, dense_weight: float) -> list[list]:
    return [reciprocal_rank_fusion([b, d], DEPTH, weights=[1.0, dense_weight], k0=k0)
            for b, d in zip(lists["bm25"], lists["dense"])]


def run(args: argparse.Namespace) -> dict:
    from agent_r1.tools.dense import DenseRetriever

    distractors = load_passages(args.distractors)
    dense_distractors = DenseRetriever(distractors)
    gold, lists = rankings(args.train, distractors, dense_distractors)
    grid = [{"k0": k0, "dense_weight": w, f"train_recall@{K}": float(np.mean(recalls(gold, fused(lists, k0, w))))}
            for k0, w in itertools.product(K0S, DENSE_WEIGHTS)]
    # Ties go to the defaults' neighbourhood: the least change from k0 60 and equal weights
    best = max(grid, key=lambda g: (round(g[f"train_recall@{K}"], 6), -abs(g["k0"] - 60), -abs(g["dense_weight"] - 1)))
    gold, lists = rankings(args.dev, distractors, dense_distractors)
    systems = {"bm25": lists["bm25"], "dense": lists["dense"], "hybrid (k0 60, weights 1 : 1)": fused(lists, 60, 1.0),
               f"hybrid (k0 {best['k0']}, weights 1 : {best['dense_weight']:g}; chosen on train)":
                   fused(lists, best["k0"], best["dense_weight"])}
    per_question = {name: recalls(gold, hits) for name, hits in systems.items()}
    rows = []
    for name, values in per_question.items():
        row = {"system": name, f"recall@{K}": float(np.mean(values))}
        if name.startswith("hybrid"):
            differences = [a - b for a, b in zip(values, per_question["bm25"])]
            row |= {"minus_bm25": float(np.mean(differences)), "interval": paired_bootstrap(differences)}
        rows.append(row)
    return {"train": str(args.train), "dev": str(args.dev), "distractors": len(distractors), "questions": len(gold),
            "chosen": best, "grid": grid, "rows": rows}


def table(result: dict) -> str:
    lines = [f"Dev: {result['questions']} questions, pooled with {result['distractors']:,} distractors; fusion chosen on "
             f"{result['train']} (train recall@{K} {result['chosen'][f'train_recall@{K}']:.3f}).", "",
             f"| system | R@{K} | minus BM25 (paired 95% interval) |", "|---|---|---|"]
    for row in result["rows"]:
        delta = (f"{100 * row['minus_bm25']:+.1f} points [{100 * row['interval'][0]:+.1f}, "
                 f"{100 * row['interval'][1]:+.1f}]") if "minus_bm25" in row else ""
        lines.append(f"| {row['system']} | {row[f'recall@{K}']:.3f} | {delta} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, default=SHARED / "hotpotqa" / "train_100.json")
    parser.add_argument("--dev", type=Path, default=SHARED / "hotpotqa" / "dev_distractor_500.jsonl")
    parser.add_argument("--distractors", type=Path, default=SHARED / "beir" / "hotpotqa_corpus_27654.jsonl")
    parser.add_argument("--json", type=Path, help="write the numbers (and the whole grid) to this file")
    args = parser.parse_args(argv)
    for path in (args.train, args.dev, args.distractors):
        if not path.is_file():
            raise SystemExit(f"error: no file at {path}")
    result = run(args)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
