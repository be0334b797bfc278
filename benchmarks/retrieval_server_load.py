"""The retrieval server under load: many clients searching one `agent-r1 serve-retriever` process.

    python -m agent_r1.benchmarks.retrieval_server_load \
        [--corpus ../shared/data/beir/hotpotqa_corpus_27654.jsonl] \
        [--questions ../shared/data/hotpotqa/dev_distractor_500.jsonl] [--retriever bm25] [--clients 64] [--seconds 60]

The server runs as its own process, as it would for trainers on other machines; the clients are threads of this
process, each a `RemoteRetriever` (the remote setting's client) asking one question's top 3 at a time and asking
again as soon as the answer comes. Side by side, in the same run: one client alone (the latency of one search
through HTTP), and the same clients searching the same index in this process without HTTP (what the server's
batching and HTTP cost or save). Reports queries per second, p50/p99/max latency and errors.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from agent_r1.benchmarks.load import closed_loop
from agent_r1.benchmarks.retrieval_inputs import add_inputs, parse, questions, report
from agent_r1.envs.datasets.corpus import corpus_searcher
from agent_r1.tools.remote import RemoteRetriever

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(corpus: Path, retriever: str, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "agent_r1.trainer.cli", "serve-retriever", "--corpus", str(corpus),
               "--retriever", retriever, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 1800  # a dense index of a large corpus is encoded first
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the server did not start: {' '.join(command)}")


def run(args: argparse.Namespace) -> dict:
    asked = questions(args.questions)
    port = _free_port()
    server = start_server(args.corpus, args.retriever, port)
    try:
        client = RemoteRetriever(f"http://127.0.0.1:{port}", timeout=30, retries=0)

        def remote(i: int) -> None:
            client.search(asked[i % len(asked)], 3)

        remote(0)  # warm
        rows = {"one client, server": closed_loop(remote, 1, min(args.seconds, 15)),
                f"{args.clients} clients, server": closed_loop(remote, args.clients, args.seconds)}
    finally:
        server.terminate()
        server.wait(timeout=60)
    local = corpus_searcher(args.corpus, args.retriever)

    def in_process(i: int) -> None:
        local.search(asked[i % len(asked)], 3)

    rows[f"{args.clients} clients, in process"] = closed_loop(in_process, args.clients, min(args.seconds, 15))
    return {"corpus": str(args.corpus), "retriever": args.retriever, "cpus": os.cpu_count(), "rows": rows}


def table(result: dict) -> str:
    lines = ["| clients | queries/s | p50 ms | p99 ms | max ms | errors |", "|---|---|---|---|---|---|"]
    for name, r in result["rows"].items():
        lines.append(f"| {name} | {r['per_second']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.0f} | "
                     f"{r['errors']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_inputs(parser)
    parser.add_argument("--retriever", choices=["bm25", "dense", "hybrid"], default="bm25")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parse(parser, argv)
    result = run(args)
    return report(args, result, table(result))


if __name__ == "__main__":
    main()
