"""BM25 search speed: agent_r1's BM25Index against rank_bm25.BM25Okapi, side by side.

    python -m agent_r1.benchmarks.bm25_speed                     # 100k passages, both libraries
    python -m agent_r1.benchmarks.bm25_speed --scale 1000000     # and build/memory/latency at 1M

Both indexes get the same synthetic corpus (Zipf-distributed words, English
stopwords included, 40-120 words a passage) and the same tokenizer, so the
ratio of latencies compares the ranking implementations only. The script also
checks that both return the same top-5 on every timed query.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time

import numpy as np

from agent_r1.tools.bm25 import STOPWORDS, BM25Index, tokenize


def synthetic_corpus(num_passages: int, seed: int = 0, vocabulary: int = 200_000) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = sorted(STOPWORDS) + ["".join(rng.choice(letters, size=rng.integers(3, 10))) for _ in range(vocabulary)]
    ranks = np.arange(1, len(words) + 1)
    probabilities = 1.0 / ranks**1.07
    probabilities /= probabilities.sum()
    lengths = rng.integers(40, 121, size=num_passages)
    tokens = rng.choice(len(words), size=int(lengths.sum()), p=probabilities)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    words_arr = np.array(words, dtype=object)
    return [" ".join(words_arr[tokens[bounds[i] : bounds[i + 1]]]) for i in range(num_passages)]


def sample_queries(corpus: list[str], count: int, seed: int = 1) -> list[str]:
    """Queries of 3-6 words taken from random passages, so that each has matches."""
    rng = np.random.default_rng(seed)
    queries = []
    for i in rng.integers(0, len(corpus), size=count):
        words = corpus[i].split()
        size = int(rng.integers(3, 7))
        start = int(rng.integers(0, len(words) - size))
        queries.append(" ".join(words[start : start + size]))
    return queries


def percentile_ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(seconds, q) * 1000)


def time_queries(search, queries: list[str]) -> list[float]:
    latencies = []
    for query in queries:
        start = time.perf_counter()
        search(query)
        latencies.append(time.perf_counter() - start)
    return latencies


def same_top5(ours: list[tuple[int, float]], reference_scores: np.ndarray) -> bool:
    """Equal rankings up to ties: the reference's scores at our top-5 are its own top-5 scores.

    We never return passages without a query term; the reference ranks them
    with score 0, so its top-5 may run past our (shorter) list only with zeros.
    """
    expected = np.sort(reference_scores)[::-1][:5]
    got = reference_scores[[i for i, _ in ours[:5]]]
    return bool(
        np.allclose(got, expected[: len(got)], rtol=1e-5, atol=1e-6) and np.all(np.abs(expected[len(got) :]) < 1e-9)
    )


def compare_with_rank_bm25(num_passages: int, num_queries: int, reference_queries: int) -> dict:
    from rank_bm25 import BM25Okapi

    corpus = synthetic_corpus(num_passages)
    queries = sample_queries(corpus, num_queries)

    start = time.perf_counter()
    ours = BM25Index(corpus)
    our_build = time.perf_counter() - start
    start = time.perf_counter()
    reference = BM25Okapi([tokenize(text) for text in corpus])
    reference_build = time.perf_counter() - start

    # Interleave: both libraries see the same machine load over the same queries.
    ref_latencies, our_latencies, agree = [], [], 0
    for query in queries[:reference_queries]:
        start = time.perf_counter()
        scores = reference.get_scores(tokenize(query))
        ref_latencies.append(time.perf_counter() - start)
        start = time.perf_counter()
        hits = ours.search(query, k=5)
        our_latencies.append(time.perf_counter() - start)
        agree += same_top5(hits, scores)
    our_latencies += time_queries(lambda q: ours.search(q, k=5), queries[reference_queries:])
    start = time.perf_counter()
    ours.search_batch(queries, k=5)
    batch_seconds = time.perf_counter() - start

    ours_p50, ref_p50 = percentile_ms(our_latencies, 50), percentile_ms(ref_latencies, 50)
    return {
        "passages": num_passages,
        "rank_bm25_build_s": reference_build,
        "ours_build_s": our_build,
        "rank_bm25_p50_ms": ref_p50,
        "ours_p50_ms": ours_p50,
        "ours_p99_ms": percentile_ms(our_latencies, 99),
        "speedup_p50": ref_p50 / ours_p50,
        "ours_batched_ms_per_query": batch_seconds / len(queries) * 1000,
        "top5_agreement": agree / reference_queries,
        "queries_compared": reference_queries,
    }


def scale_run(num_passages: int, num_queries: int) -> dict:
    start = time.perf_counter()
    corpus = synthetic_corpus(num_passages, seed=2)
    generate_s = time.perf_counter() - start
    queries = sample_queries(corpus, num_queries, seed=3)
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    index = BM25Index(corpus)
    build_s = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    latencies = time_queries(lambda q: index.search(q, k=5), queries)
    return {
        "passages": num_passages,
        "corpus_generation_s": generate_s,
        "build_s": build_s,
        "index_matrix_mb": index.nbytes / 2**20,
        "vocabulary_terms": len(index.vocabulary),
        "peak_rss_growth_during_build_mb": (rss_after - rss_before) / 1024,
        "p50_ms": percentile_ms(latencies, 50),
        "p99_ms": percentile_ms(latencies, 99),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000, help="queries timed on our index")
    parser.add_argument("--reference-queries", type=int, default=30, help="queries timed on rank_bm25 (slow)")
    parser.add_argument("--scale", type=int, default=0, help="also measure build, memory and latency at this size")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)

    results = {"comparison": compare_with_rank_bm25(args.passages, args.queries, args.reference_queries)}
    c = results["comparison"]
    print(f"corpus: {c['passages']:,} synthetic passages; top-5 agreement with rank_bm25: "
          f"{c['top5_agreement']:.1%} of {c['queries_compared']} queries")
    print(f"build:  rank_bm25 {c['rank_bm25_build_s']:.1f} s, ours {c['ours_build_s']:.1f} s")
    print(f"search p50: rank_bm25 {c['rank_bm25_p50_ms']:.1f} ms, ours {c['ours_p50_ms']:.3f} ms "
          f"(p99 {c['ours_p99_ms']:.3f} ms, batched {c['ours_batched_ms_per_query']:.3f} ms/query)")
    print(f"speedup (p50 latency): {c['speedup_p50']:.0f}x")
    if args.scale:
        s = results["scale"] = scale_run(args.scale, args.queries)
        print(f"at {s['passages']:,} passages: build {s['build_s']:.1f} s, score matrix {s['index_matrix_mb']:.0f} MiB "
              f"(peak RSS growth while building {s['peak_rss_growth_during_build_mb']:.0f} MiB), "
              f"{s['vocabulary_terms']:,} terms, search p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
