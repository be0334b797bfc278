"""QAEnv: multi-hop question answering with a search tool and process rewards.

A task is a question, its acceptable answers and its gold supporting passages.
The env turns search results into process signals (a new gold passage, a
repeated query) and the final answer into EM/F1; datasets and the SynthHop
world differ only in how they draw a task (`_sample_task`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from agent_r1.envs.actions import Answer, ToolCall
from agent_r1.envs.contract import EpisodeEnd
from agent_r1.envs.metrics import best_over_answers, cover_exact_match, exact_match, f1
from agent_r1.envs.tool_env import ToolEnv
from agent_r1.tools.base import Tool, ToolResult
from agent_r1.tools.retriever import Retriever
from agent_r1.tools.search import SearchTool


@dataclass(frozen=True)
class QATask:
    id: str
    question: str
    answers: tuple[str, ...]
    # Gold passages, in the order an agent needs them, and for each the search an oracle issues.
    supporting_ids: tuple[str, ...]
    oracle_queries: tuple[str, ...]
    retriever: Retriever
    # "id": a retrieved passage is gold when its id is in supporting_ids; "title":
    # when its title_key is (for corpora that split or re-key the gold articles).
    match_gold_by: str = "id"

    def __post_init__(self) -> None:
        if not self.answers:
            raise ValueError(f"task {self.id!r} has no answer")
        if len(self.supporting_ids) != len(self.oracle_queries):
            raise ValueError(f"task {self.id!r}: one oracle query per supporting passage is needed")
        if self.match_gold_by not in ("id", "title"):
            raise ValueError(f"task {self.id!r}: match_gold_by must be 'id' or 'title'")


def title_key(title: str) -> str:
    """How titles are compared across sources: case, quotes and spacing do not matter."""
    return " ".join(title.strip().strip('"').lower().split())


def _normalize_query(query: str) -> str:
    return " ".join(query.lower().split())


class QAEnv(ToolEnv):
    def __init__(self, *, top_k: int = 3, max_passage_chars: int | None = 600, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.top_k = top_k
        self.max_passage_chars = max_passage_chars
        self.task: QATask | None = None
        self._tools: dict[str, Tool] = {}
        self._queries: set[str] = set()
        self._found: set[str] = set()
        self._searches = 0

    def _sample_task(self, options: Mapping[str, Any]) -> QATask:
        """Draws a task with `self.np_random`."""
        raise NotImplementedError

    @property
    def tools(self) -> Mapping[str, Tool]:
        return self._tools

    def _start_task(self, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        self.task = self._sample_task(options)
        search = SearchTool(self.task.retriever, top_k=self.top_k, max_chars=self.max_passage_chars)
        self._tools = {search.name: search}
        self._queries = set()
        self._found = set()
        self._searches = 0
        return f"Question: {self.task.question}", {"task_id": self.task.id, "question": self.task.question}

    def _interpret_tool_result(self, call: ToolCall, result: ToolResult) -> dict[str, float]:
        if call.name != SearchTool.name:
            return {}
        components: dict[str, float] = {}
        self._searches += 1
        query = _normalize_query(call.arguments["query"])
        if query in self._queries:
            components["repeated_query"] = -1.0
        self._queries.add(query)
        if result.ok:
            if self.task.match_gold_by == "title":
                retrieved = {title_key(title) for title in result.data.get("titles", ())}
            else:
                retrieved = set(result.data.get("ids", ()))
            new = retrieved & set(self.task.supporting_ids) - self._found
            if new:
                self._found |= new
                components["new_gold_passage"] = float(len(new))
        return components

    def _finish(self, answer: str | None) -> EpisodeEnd:
        golds = self.task.answers
        scores = {"em": 0.0, "f1": 0.0, "cover_em": 0.0}  # no answer scores nothing
        if answer is not None:
            for name, metric in (("em", exact_match), ("f1", f1), ("cover_em", cover_exact_match)):
                scores[name] = best_over_answers(metric, answer, golds)
        metrics = {
            **scores,
            "answered": answer is not None,
            "searches": self._searches,
            "gold_recall": len(self._found) / len(self.task.supporting_ids) if self.task.supporting_ids else 1.0,
        }
        extra = {"gold_answer": golds[0], "gold_answers": golds, "prediction": answer}
        return EpisodeEnd({"answer_em": scores["em"], "answer_f1": scores["f1"]}, metrics, extra)

    def oracle_action(self) -> str:
        """Searches each gold passage not yet found (once), then answers with the gold answer."""
        if self.task is None:
            raise RuntimeError("call reset() before oracle_action()")
        for passage_id, query in zip(self.task.supporting_ids, self.task.oracle_queries):
            if passage_id not in self._found and _normalize_query(query) not in self._queries:
                return self.parser.render(ToolCall(SearchTool.name, {"query": query}))
        return self.parser.render(Answer(self.task.answers[0]))
