"""What dense retrieval costs on this machine: encoding, index builds, memory and query latency, by corpus size.

    python -m agent_r1.benchmarks.dense_cost [--corpus ../shared/data/beir/hotpotqa_corpus_27654.jsonl] \
        [--real 27654] [--sizes 30000,100000,1000000] [--hnsw-up-to 100000] [--queries 200]

The encoder (all-MiniLM-L6-v2, the default) embeds the first --real passages of the corpus (once: DenseRetriever
caches them in the data home), and is timed on --encode-sample of them: passages per second. Larger corpora repeat
those real embeddings, each copy moved by noise (0.01 per dimension, then normalised) so that no two rows tie;
encoding a million passages would take this CPU hours. Copies cluster around their original, a harder case for
HNSW than real text, so the first rows measure the real passages alone. Then, side by side at each size, with
HotpotQA dev questions as queries, one at a time (what one search of an agent pays):
- numpy: the embeddings as one float32 matrix, scores by matrix product, the top 10 by argpartition;
- faiss flat: exact inner product (DenseRetriever's default);
- faiss HNSW (32 neighbours, efSearch 64: DenseRetriever's settings), up to --hnsw-up-to passages (its build grows
  fast), and faiss IVF over 8-bit vectors (4 sqrt(N) lists, 64 probed), each with its recall@10 against the exact
  top 10.
Encoding is timed for sentence-transformers (torch) and ONNX Runtime side by side. Query latency is the index's;
"with encoding" adds the median time to encode one question with the default runtime.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from agent_r1.benchmarks.load import percentile_ms
from agent_r1.benchmarks.retrieval_inputs import add_inputs, parse, questions, report
from agent_r1.envs.datasets.corpus import load_passages
from agent_r1.tools.dense_indexes import IVF_MIN_PASSAGES, build_index
from agent_r1.tools.paths import DEFAULT_ENCODER

K = 10
QUESTION_BLOCK = 25
logger = logging.getLogger(__name__)


def _timed_each(call, items) -> tuple[list, list[float]]:
    results, seconds = [], []
    for item in items:
        started = time.perf_counter()
        results.append(call(item))
        seconds.append(time.perf_counter() - started)
    return results, sorted(seconds)


def scaled(real: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` rows: the real embeddings repeated, each copy after the first moved by noise and normalised."""
    rows = np.resize(real, (size, real.shape[1])).astype(np.float32)
    copies = np.arange(size) >= len(real)
    rows[copies] += rng.normal(0, 0.01, size=(int(copies.sum()), real.shape[1])).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def measure_size(embeddings: np.ndarray, queries: np.ndarray, hnsw: bool, encode_ms: float) -> list[dict]:
    rows = []

    def numpy_search(q):
        scores = embeddings @ q
        top = np.argpartition(-scores, K)[:K]
        return top[np.argsort(-scores[top])]

    exact, seconds = _timed_each(numpy_search, queries)
    rows.append({"index": "numpy", "build_s": 0.0, "memory_mb": embeddings.nbytes / 2**20, "seconds": seconds})
    kinds = ["flat"] + (["hnsw"] if hnsw else []) + (["ivf"] if len(embeddings) >= IVF_MIN_PASSAGES else [])
    for kind in kinds:
        import faiss

        started = time.perf_counter()
        index = build_index(embeddings, kind)  # DenseRetriever's settings
        build = time.perf_counter() - started
        found, seconds = _timed_each(lambda q: index.search(q[None, :], K)[1][0], queries)
        memory = len(faiss.serialize_index(index)) / 2**20
        recall = float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact)]))
        rows.append({"index": f"faiss {kind}", "build_s": build, "memory_mb": memory, "seconds": seconds,
                     "recall_at_10": recall})
    for row in rows:
        seconds = row.pop("seconds")
        row |= {"passages": len(embeddings), "p50_ms": percentile_ms(seconds, 0.5),
                "p99_ms": percentile_ms(seconds, 0.99), "with_encoding_p50_ms": percentile_ms(seconds, 0.5) + encode_ms}
        row.setdefault("recall_at_10", 1.0)
    return rows


def run(args: argparse.Namespace) -> dict:
    import torch

    from agent_r1.tools.dense import DenseRetriever

    passages = load_passages(args.corpus)[: args.real]
    # The real embeddings, from the data home's cache when an earlier run encoded them (encoding is timed below)
    dense = DenseRetriever(passages, encoder=DEFAULT_ENCODER)
    real = dense.index.reconstruct_n(0, dense.index.ntotal)
    asked = questions(args.questions)[: args.queries]
    encoding = encoding_costs(passages, [p.contents for p in passages[: args.encode_sample]], asked)
    queries = dense.encode(asked, dense.query_prefix)
    encode_ms = encoding[dense.runtime]["query_p50_ms"]
    rng = np.random.default_rng(0)
    rows = measure_size(real, queries, len(real) <= args.hnsw_up_to, encode_ms)  # real passages alone
    for size in args.sizes:
        rows += measure_size(scaled(real, size, rng), queries, size <= args.hnsw_up_to, encode_ms)
    return {"encoder": DEFAULT_ENCODER, "threads": torch.get_num_threads(), "real_passages": len(passages),
            "runtime": dense.runtime, "encoding": encoding, "encode_sample": args.encode_sample, "rows": rows}


def encoding_costs(passages, sample: list[str], asked: list[str]) -> dict[str, dict]:
    """Passages a second (batches of 64) and one question's p50 / p99, for sentence-transformers (torch) and ONNX
    Runtime side by side: blocks of questions alternate between the two, so both see the same moments of a noisy
    machine, and neither pays for the other's thread pool winding down (alternating every call doubled torch's)."""
    from agent_r1.tools.dense import DenseRetriever

    retrievers = {"torch": DenseRetriever(passages, encoder=DEFAULT_ENCODER, runtime="torch")}
    try:
        retrievers["onnx"] = DenseRetriever(passages, encoder=DEFAULT_ENCODER, runtime="onnx")
    except RuntimeError as exc:
        logger.warning("ONNX Runtime left out: %s", exc)
    costs = {}
    for name, dense in retrievers.items():
        dense.encode(asked[:1], dense.query_prefix)  # the first call builds what later calls reuse
        started = time.perf_counter()
        dense.encode(sample, dense.passage_prefix)
        costs[name] = {"passages_per_s": len(sample) / (time.perf_counter() - started), "seconds": []}
    for block in range(0, len(asked), QUESTION_BLOCK):
        for name, dense in retrievers.items():
            costs[name]["seconds"] += _timed_each(lambda q: dense.encode([q], dense.query_prefix),
                                                  asked[block:block + QUESTION_BLOCK])[1]
    for cost in costs.values():
        seconds = sorted(cost.pop("seconds"))
        cost |= {"query_p50_ms": percentile_ms(seconds, 0.5), "query_p99_ms": percentile_ms(seconds, 0.99)}
    return costs


def table(result: dict) -> str:
    lines = [f"Encoding ({result['encoder']}, {result['threads']} threads; {result['encode_sample']} passages in "
             "batches of 64, then each question alone):", "",
             "| runtime | passages/s | one question p50 ms | p99 ms |", "|---|---|---|---|"]
    lines += [f"| {name} | {c['passages_per_s']:.0f} | {c['query_p50_ms']:.1f} | {c['query_p99_ms']:.1f} |"
              for name, c in result["encoding"].items()]
    lines += ["", f"With encoding: the index's p50 plus one question's on {result['runtime']} (the default here).", "",
              "| passages | index | build s | memory MB | search p50 ms | p99 ms | p50 with encoding ms | recall@10 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['passages']:,} | {r['index']} | {r['build_s']:.1f} | {r['memory_mb']:.0f} | {r['p50_ms']:.2f} "
                     f"| {r['p99_ms']:.2f} | {r['with_encoding_p50_ms']:.1f} | {r['recall_at_10']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_inputs(parser)
    parser.add_argument("--real", type=int, default=27_654, help="real passages (encoded once, cached in the data "
                        "home; larger corpora repeat them)")
    parser.add_argument("--encode-sample", type=int, default=1024, help="passages encoded to time the encoder")
    parser.add_argument("--sizes", type=lambda text: [int(s) for s in text.split(",")], default=[30_000, 100_000, 1_000_000])
    parser.add_argument("--hnsw-up-to", type=int, default=100_000, help="the largest corpus given an HNSW index")
    parser.add_argument("--queries", type=int, default=200)
    args = parse(parser, argv)
    result = run(args)
    return report(args, result, table(result))


if __name__ == "__main__":
    main()
