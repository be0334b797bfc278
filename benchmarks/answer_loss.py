"""Where `paper_table`'s answers are won and lost: by kind of question, and in the search or in the reading.

Two tables. The first splits each dataset's questions by kind, from the question alone: yes/no questions,
questions that name their answer themselves (comparisons: "which came first, A or B?"), and the rest, which the
agent can only answer from what it finds. Every system is scored on each kind, the ones whose scores are kept
(`--keep`) included: a gain made only on the first two kinds is a better choice between named options, not
better multi-hop search. The second splits the rest once more, for each system whose episodes are in OUT (they
hold the passages the agent read; kept scores do not): was the normalised gold answer in the passages it was
shown? EM where it was measures the reading; the share where it was not bounds what reading alone could win.

    python -m agent_r1.benchmarks.answer_loss runs/paper --keep benchmarks/results/paper
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from agent_r1.benchmarks.evaluation.harness import read_episodes
from agent_r1.benchmarks.evaluation.reference import short_name
from agent_r1.benchmarks.paper_report import label, order_key, scores
from agent_r1.envs.metrics import normalize_answer

KINDS = ("yes/no", "named in the question", "other")
FOUND = ("answer in the passages shown", "answer in neither")
_TAG = re.compile(r"</?[A-Za-z_]+>")


def question_and_passages(episode: dict[str, Any]) -> tuple[str, str]:
    """(the question, every observation the agent read). The first user turn poses the question after the
    instructions, as "Question: ..." (QAEnv.reset); the later user turns are the observations."""
    users = [m["content"] for m in episode["messages"] if m["role"] == "user"]
    return users[0].rpartition("Question: ")[2] if users else "", " ".join(users[1:])


def _contains(text: str, normalized: str) -> bool:
    # Tags go first: normalising drops their brackets and would glue "</information>" onto the last word.
    return bool(normalized) and f" {normalized} " in f" {normalize_answer(_TAG.sub(' ', text))} "


def kind(episode: dict[str, Any]) -> str:
    """The kind of the episode's question (KINDS), from the question and its gold answer alone."""
    gold = normalize_answer(episode["gold_answer"] or "")
    if gold in ("yes", "no"):
        return KINDS[0]
    return KINDS[1] if _contains(question_and_passages(episode)[0], gold) else KINDS[2]


def _episodes(out: Path) -> list[dict[str, Any]]:
    return [e for path in sorted((out / "bench" / "episodes").glob("*.jsonl")) for e in read_episodes(path)]


def by_kind(out: Path, kept: Path | None = None) -> dict[tuple[str, str], dict[str, list[float]]]:
    """(system, env) -> kind -> the EM of each question of that kind, for every system of the report. A question's
    kind is read from any episode that posed it (every system answered the same questions)."""
    kinds = {(e["env"], e["index"]): kind(e) for e in _episodes(out)}
    table = scores(out, kept).table
    result: dict[tuple[str, str], dict[str, list[float]]] = {}
    for system, envs in table.items():
        for env, questions in envs.items():
            parts = result.setdefault((system, env), {k: [] for k in KINDS})
            for index, score in questions.items():
                if (env, index) in kinds:
                    parts[kinds[env, index]].append(score["em"])
    return result


def by_passages(out: Path) -> dict[tuple[str, str], dict[str, list[float]]]:
    """(system, env) -> FOUND -> EM, over the questions of the last kind, for the systems with episodes in OUT."""
    result: dict[tuple[str, str], dict[str, list[float]]] = {}
    for episode in _episodes(out):
        if kind(episode) != KINDS[2]:
            continue
        parts = result.setdefault((label(episode["policy"], out), episode["env"]), {k: [] for k in FOUND})
        gold = normalize_answer(episode["gold_answer"] or "")
        seen = _contains(question_and_passages(episode)[1], gold)
        parts[FOUND[0] if seen else FOUND[1]].append(float(episode["metrics"]["em"]))
    return result


def _cell(ems: list[float], total: int) -> str:
    return f"{len(ems)} ({len(ems) / total:.0%}), EM {sum(ems) / len(ems):.3f}" if ems else "0"


def table(rows: dict[tuple[str, str], dict[str, list[float]]], columns: tuple[str, ...]) -> str:
    """Markdown: a row per (system, dataset), by dataset, then in the report's order; a cell: questions (share), EM."""
    lines = ["| dataset | system | questions | " + " | ".join(columns) + " |", "|---" * (len(columns) + 3) + "|"]
    for (system, env), parts in sorted(rows.items(), key=lambda item: (item[0][1], order_key(item[0][0]))):
        total = sum(len(parts[c]) for c in columns)
        lines.append(f"| {short_name(env)} | {system} | {total} | "
                     + " | ".join(_cell(parts[c], total) for c in columns) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="paper_table's results folder (its bench/episodes are read)")
    parser.add_argument("--keep", type=Path, default=None, help="paper_table's --keep folder: its systems' scores")
    args = parser.parse_args(argv)
    if not _episodes(args.out):
        raise SystemExit(f"error: no episodes in {args.out / 'bench' / 'episodes'}: the kinds are read from them")
    print("EM by kind of question\n\n" + table(by_kind(args.out, args.keep), KINDS))
    print("\nQuestions of the last kind: was the answer in what the agent read?\n\n"
          + table(by_passages(args.out), FOUND))


if __name__ == "__main__":
    main()
