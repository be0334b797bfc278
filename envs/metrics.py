"""Answer metrics with the official HotpotQA normalisation (hotpot_evaluate_v1.py)."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any, Iterable, Mapping

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_SPECIAL = ("yes", "no", "noanswer")


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and articles, squeeze whitespace."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    # yes/no answers get no partial credit, as in the official script.
    if (pred in _SPECIAL or ref in _SPECIAL) and pred != ref:
        return 0.0
    pred_tokens, ref_tokens = pred.split(), ref.split()
    same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def cover_exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised gold answer appears in the normalised prediction (Agent-R1's logged EM)."""
    ref = normalize_answer(gold)
    return float(bool(ref) and f" {ref} " in f" {normalize_answer(prediction)} ")


def best_over_answers(metric, prediction: str, golds: Iterable[str]) -> float:
    """A metric against a list of acceptable answers (e.g. MuSiQue's aliases): the best match counts."""
    return max((metric(prediction, gold) for gold in golds), default=0.0)


# The episode metrics reported as means (eval, bench and the trainer's held-out evaluations), in table order.
SUMMARY_METRICS = ("em", "f1", "cover_em", "gold_recall", "turns", "searches", "invalid_actions", "return")


def summarize(metrics: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Each summary metric's mean over the episodes that report it (an env without searches reports none)."""
    metrics = list(metrics)
    means = {}
    for name in SUMMARY_METRICS:
        values = [float(m[name]) for m in metrics if name in m]
        if values:
            means[name] = sum(values) / len(values)
    return means
