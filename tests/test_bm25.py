import json

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from agent_r1.benchmarks.bm25_speed import sample_queries, same_top5, synthetic_corpus
from agent_r1.tools import BM25Index, tokenize
from conftest import shared_file


def agreement(corpus, queries):
    ours = BM25Index(corpus)
    reference = BM25Okapi([tokenize(text) for text in corpus])
    agree = 0
    for query in queries:
        scores = reference.get_scores(tokenize(query))
        hits = ours.search(query, k=5)
        # Our scores are the reference's (float32 precision).
        for index, score in hits:
            assert score == pytest.approx(scores[index], rel=1e-4, abs=1e-5)
        agree += same_top5(hits, scores)
    return agree / len(queries)


def test_top5_equals_rank_bm25_on_a_synthetic_corpus():
    corpus = synthetic_corpus(3000, vocabulary=5000)
    assert agreement(corpus, sample_queries(corpus, 300)) >= 0.99


def test_top5_equals_rank_bm25_on_real_wikipedia_passages():
    lines = shared_file("wiki18/sample_1000.jsonl").read_text().splitlines()
    corpus = [json.loads(line)["contents"] for line in lines]
    queries = [text.split("\n")[0] for text in corpus[:200]]  # titles as queries
    queries += sample_queries(corpus, 200)
    assert agreement(corpus, queries) >= 0.99


def test_batched_search_equals_single_queries():
    corpus = synthetic_corpus(500, vocabulary=800)
    queries = sample_queries(corpus, 50)
    index = BM25Index(corpus)
    assert index.search_batch(queries, k=7) == [index.search(q, k=7) for q in queries]


def test_results_are_sorted_and_ties_go_to_the_lower_index():
    index = BM25Index(["apple pie", "banana split", "apple pie", "apple apple pie", "cherry", "grape", "kiwi"])
    hits = index.search("apple", k=3)
    assert [i for i, _ in hits] == [3, 0, 2]
    assert hits[1][1] == hits[2][1]


def test_passages_without_a_query_term_are_never_returned():
    index = BM25Index(["red fox", "blue whale", "green frog"])
    assert index.search("whale", k=3) == [(1, pytest.approx(index.search("whale", 1)[0][1]))]
    assert index.search("unicorn", k=3) == []
    assert index.search("", k=3) == []


def test_repeated_query_words_count_twice_like_rank_bm25():
    corpus = ["cat dog", "cat cat bird", "dog dog dog fish", "fish"]
    reference = BM25Okapi([tokenize(t) for t in corpus])
    index = BM25Index(corpus)
    np.testing.assert_allclose(index.scores("dog dog cat"), reference.get_scores(["dog", "dog", "cat"]), rtol=1e-5)


def test_lucene_idf_finds_a_word_present_in_half_of_a_small_corpus():
    corpus = ["alpha beta", "alpha gamma", "delta", "epsilon"]
    assert BM25Index(corpus).search("alpha", k=2) == []  # Okapi idf is exactly 0 here
    assert [i for i, _ in BM25Index(corpus, idf="lucene").search("alpha", k=2)] == [0, 1]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="k must be positive"):
        BM25Index(["a b"]).search("a", k=0)
    with pytest.raises(ValueError, match="idf must be"):
        BM25Index(["a b"], idf="tfidf")


def test_default_tokenizer_lowercases_and_drops_stopwords():
    assert tokenize("The Director of Zorba, born in 1921!") == ["director", "zorba", "born", "1921"]
