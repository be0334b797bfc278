"""What the retrieval benchmarks share: a passage file and HotpotQA questions (the shared samples by default), their
command-line options, and how a run's table and numbers are reported."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agent_r1.envs.datasets.formats import load_records

SHARED = Path("../shared/data")  # run from the checkout, as the other benchmarks


def add_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", type=Path, default=SHARED / "beir" / "hotpotqa_corpus_27654.jsonl")
    parser.add_argument("--questions", type=Path, default=SHARED / "hotpotqa" / "dev_distractor_500.jsonl")
    parser.add_argument("--json", type=Path, help="write the numbers to this file")


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """The arguments, with a one-line error for a missing corpus or questions file."""
    args = parser.parse_args(argv)
    for path in (args.corpus, args.questions):
        if not path.is_file():
            raise SystemExit(f"error: no file at {path}")
    return args


def questions(path: Path) -> list[str]:
    return [r.question for r in load_records("hotpotqa", str(path), need_paragraphs=False)]


def report(args: argparse.Namespace, result: dict, text: str) -> dict:
    """Prints the table; writes the numbers to --json where given."""
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result
