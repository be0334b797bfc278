"""The shape every multi-hop QA dataset is loaded into."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from agent_r1.tools.retriever import Passage


class DatasetFormatError(ValueError):
    """A data file that is not what its loader expects; the message names the file, record and field."""


def paragraph_id(title: str, text: str) -> str:
    """A stable id from (title, text): titles alone repeat (MuSiQue), and the same
    paragraph shared by several questions must be one passage in a pooled index."""
    return hashlib.sha1(f"{title}\n{text}".encode("utf-8")).hexdigest()[:16]


def make_paragraph(title: str, text: str) -> Passage:
    return Passage(paragraph_id(title, text), title, text)


@dataclass(frozen=True)
class QARecord:
    id: str
    question: str
    answers: tuple[str, ...]  # the answer first, then aliases
    paragraphs: tuple[Passage, ...]  # the question's own context (its distractor setting)
    supporting: tuple[Passage, ...]  # gold paragraphs, in the order the reasoning needs them
    # (read with need_paragraphs=False, a gold paragraph absent from the file is title-only, text "")
    type: str = ""
