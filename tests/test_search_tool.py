from agent_r1.tools import BM25Retriever, Passage, SearchTool

PASSAGES = [
    Passage("p1", "Zorvan Quist", "Zorvan Quist is a painter born in 1921 in Tarskmere."),
    Passage("p2", "Tarskmere", "Tarskmere is a city in Orvania."),
    Passage("p4", "Old town", "The old town of Tarskmere has " + "many old houses, " * 20 + "and a port."),
    Passage("p3", "Orvania", "Orvania is a country."),
]


def test_search_returns_ranked_passages_with_their_ids():
    tool = SearchTool(BM25Retriever(PASSAGES), top_k=2)
    result = tool(query="Tarskmere")
    assert result.ok
    assert result.data["ids"] == ["p2", "p1"]
    assert result.content.splitlines()[0].startswith("Doc 1 (Title: Tarskmere) Tarskmere is a city in Orvania.")
    assert len(result.data["scores"]) == 2


def test_long_passages_are_cut():
    result = SearchTool(BM25Retriever(PASSAGES), top_k=1, max_chars=50)(query="old houses")
    assert result.content.endswith(" ...")
    assert len(result.content) < 100


def test_no_match_and_empty_query():
    tool = SearchTool(BM25Retriever(PASSAGES))
    assert tool(query="unicorn").content == "No passage matches this query."
    empty = tool(query="   ")
    assert not empty.ok and empty.error == "the search query is empty"


def test_a_failing_retriever_gives_an_error_result():
    class Down:
        def search(self, query, k):
            raise ConnectionError("retrieval server unreachable")

    result = SearchTool(Down())(query="x")
    assert not result.ok and "ConnectionError: retrieval server unreachable" in result.error
