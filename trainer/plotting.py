"""matplotlib for the PNGs that runs and benchmarks write: optional, and never opens a window."""

from __future__ import annotations


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt
