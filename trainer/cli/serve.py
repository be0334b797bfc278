"""`agent-r1 serve-retriever`: one index over a passage file, served with Search-R1's API (tools/retrieval_server.py)."""

from __future__ import annotations

import argparse
import logging
import time

from agent_r1.tools.dense_indexes import INDEXES
from agent_r1.tools.paths import DEFAULT_ENCODER
from agent_r1.tools.retriever import RETRIEVERS
from agent_r1.trainer.cli.args import positive_int

logger = logging.getLogger(__name__)


def add_parser(commands) -> None:
    from agent_r1.tools.retrieval_server import ServerLimits

    limits = ServerLimits()
    sr = commands.add_parser("serve-retriever", help="serve one retriever over a passage file to many trainers "
                             "(Search-R1's POST /retrieve; the dataset envs' remote setting reads it)")
    sr.add_argument("--corpus", required=True, help="passages: JSON Lines or a JSON array of {\"id\", \"contents\"}, "
                    "{\"title\", \"text\"} or BEIR's {\"_id\", \"title\", \"text\"}")
    sr.add_argument("--retriever", choices=RETRIEVERS, default="bm25")
    sr.add_argument("--encoder", default=DEFAULT_ENCODER, help="dense and hybrid: a sentence-transformers model "
                    "(default: %(default)s)")
    sr.add_argument("--dense-index", choices=INDEXES, default="flat", help="dense and hybrid: flat (exact), hnsw (fast, "
                    "approximate) or ivf (a quarter of flat's memory, approximate: corpora of millions)")
    sr.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: %(default)s, this machine "
                    "only; 0.0.0.0 for every interface: the server has no authentication)")
    sr.add_argument("--port", type=int, default=8000)
    sr.add_argument("--max-batch", type=positive_int, default=limits.max_batch,
                    help="the most queries searched in one batch (default: %(default)s)")
    sr.add_argument("--max-queries", type=positive_int, default=limits.max_queries,
                    help="the most queries of one request (default: %(default)s)")
    sr.add_argument("--timeout", type=float, default=limits.timeout,
                    help="seconds a request may wait for its search before a 504 (default: %(default)s)")
    sr.set_defaults(func=cmd_serve_retriever)


def cmd_serve_retriever(args: argparse.Namespace) -> int:
    from agent_r1.envs.datasets.corpus import corpus_searcher
    from agent_r1.envs.datasets.records import DatasetFormatError
    from agent_r1.tools.retrieval_server import ServerLimits, serve

    if not 0 < args.port < 65536:
        raise SystemExit(f"error: --port must be between 1 and 65535, got {args.port}")
    if not args.timeout > 0:
        raise SystemExit(f"error: --timeout must be above 0, got {args.timeout}")
    started = time.perf_counter()
    try:
        retriever = corpus_searcher(args.corpus, args.retriever, encoder=args.encoder, dense_index=args.dense_index)
    except FileNotFoundError:
        raise SystemExit(f"error: --corpus: no file at {args.corpus}") from None
    except (DatasetFormatError, ValueError) as exc:
        raise SystemExit(f"error: --corpus: {exc}") from None
    parts = getattr(retriever, "retrievers", [retriever])  # a hybrid's retrievers share their passages
    passages = max((len(part.passages) for part in parts if hasattr(part, "passages")), default=None)
    limits = ServerLimits(max_queries=args.max_queries, max_batch=args.max_batch, timeout=args.timeout)
    try:
        server = serve(retriever, args.host, args.port, limits, passages=passages)
    except OSError as exc:  # the port is taken, the address is not this machine's
        raise SystemExit(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"serving {args.retriever} over {args.corpus} ({time.perf_counter() - started:.0f} s to load) at "
          f"http://{args.host}:{args.port}/retrieve; health at /health; Ctrl-C stops", flush=True)
    server()
    return 0
