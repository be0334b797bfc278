"""Closed-loop load: clients, each searching again as soon as its answer arrives, for a fixed time."""

from __future__ import annotations

import threading
import time
from typing import Callable, Sequence


def percentile_ms(sorted_seconds: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of sorted durations in seconds, in milliseconds; NaN if there are none."""
    if not sorted_seconds:
        return float("nan")
    return sorted_seconds[min(len(sorted_seconds) - 1, int(q * len(sorted_seconds)))] * 1000


def run_threads(work: Callable[[int], None], count: int, seconds: float, stop: threading.Event) -> float:
    """work(0), ..., work(count - 1), each on a thread, until `seconds` pass and `stop` is set (each work loops until
    it sees it); the seconds they ran."""
    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def closed_loop(call: Callable[[int], None], clients: int, seconds: float) -> dict:
    """`clients` threads calling call(i) (i counts each thread's calls, offset per thread) until `seconds` pass:
    calls per second, latency p50/p99/max, and failures (every exception counts)."""
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []

    def client(index: int) -> None:
        i = index * 1_000_003
        while not stop.is_set():
            started = time.perf_counter()
            try:
                call(i)
                latencies.append(time.perf_counter() - started)
            except Exception as exc:  # noqa: BLE001 - a load test counts every failure
                errors.append(repr(exc))
            i += 1

    elapsed = run_threads(client, clients, seconds, stop)
    latencies.sort()
    return {"clients": clients, "seconds": elapsed, "calls": len(latencies), "per_second": len(latencies) / elapsed,
            "p50_ms": percentile_ms(latencies, 0.5), "p99_ms": percentile_ms(latencies, 0.99),
            "max_ms": percentile_ms(latencies, 1.0), "errors": len(errors), "first_errors": errors[:3]}
