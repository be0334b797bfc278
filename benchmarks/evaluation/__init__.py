"""Evaluation: agents and baselines, the episode runner that scores them, and the resumable benchmark harness.

The library that the command line's `eval` and `bench` use. The scripts beside this package (benchmarks/*.py) are
measurements and experiments built on it and on the trainer; nothing in the library imports them.
"""
