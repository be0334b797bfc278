"""Tools: executors that run one action and report what happened."""

from agent_r1.tools.base import Tool, ToolResult
from agent_r1.tools.bm25 import BM25Index, tokenize
from agent_r1.tools.retriever import BM25Retriever, Passage, Retriever, SearchHit
from agent_r1.tools.search import SearchTool

__all__ = [
    "BM25Index",
    "BM25Retriever",
    "Passage",
    "Retriever",
    "SearchHit",
    "SearchTool",
    "Tool",
    "ToolResult",
    "tokenize",
]
