"""The search tool: a query in, the top passages of a retriever out."""

from __future__ import annotations

from agent_r1.tools.base import Tool, ToolResult
from agent_r1.tools.retriever import Retriever


class SearchTool(Tool):
    name = "search"
    description = "Search a collection of encyclopedia passages and return the most relevant ones."
    parameters = {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "What to search for, e.g. a name or a short phrase."}},
        "required": ["query"],
    }

    def __init__(self, retriever: Retriever, *, top_k: int = 3, max_chars: int | None = 600, timeout: float | None = None):
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        self.retriever = retriever
        self.top_k = top_k
        self.max_chars = max_chars
        self.timeout = timeout

    def run(self, query: str) -> ToolResult:
        query = query.strip()
        if not query:
            return ToolResult.failure("the search query is empty")
        hits = self.retriever.search(query, self.top_k)
        if not hits:
            return ToolResult(content="No passage matches this query.", data={"ids": [], "titles": [], "scores": []})
        blocks = []
        for rank, hit in enumerate(hits, start=1):
            text = hit.passage.text
            if self.max_chars is not None and len(text) > self.max_chars:
                text = text[: self.max_chars].rstrip() + " ..."
            blocks.append(f"Doc {rank} (Title: {hit.passage.title}) {text}")
        return ToolResult(
            content="\n".join(blocks),
            data={
                "ids": [hit.passage.id for hit in hits],
                "titles": [hit.passage.title for hit in hits],
                "scores": [hit.score for hit in hits],
            },
        )
