"""The `agent-r1` command line, the top layer: it may import everything below it, and nothing imports it."""

from agent_r1.trainer.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
