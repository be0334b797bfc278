"""`make demo` with several seeds: its time, and held-out EM before and after RL, run by run and as the median.

    python -m agent_r1.benchmarks.demo_seeds --out runs/demo-seeds [--seeds 0,1,2]

Each seed is the Makefile's demo command (the one home of its settings) with `--seed S`, from nothing (its own
warm start), in a process of its own, one after another: run it alone on the machine, since the minutes are the
measurement. The demo's targets: at most 15 minutes, and held-out EM at least 10 points above its own warm start,
as the median of three seeds (issue 16). Started again, finished seeds are kept and an interrupted one resumes
(its time is then marked as resumed). Writes OUT/demo_seeds.md and .json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from agent_r1.benchmarks.train_runs import report
from agent_r1.tools.paths import RunFolder

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"


def demo_arguments(makefile: Path = MAKEFILE, output_dir: str = "runs/demo") -> list[str]:
    """The `agent-r1 train` arguments of the Makefile's demo target as make expands them (the sampler depends on
    what is installed), writing to `output_dir`."""
    if not makefile.exists():
        raise SystemExit(f"error: no Makefile at {makefile}: run this from a checkout of agent-r1")
    shown = subprocess.run(["make", "--dry-run", "--silent", "-C", str(makefile.parent), "-f", str(makefile), "demo",
                            f"DEMO_DIR={output_dir}"], capture_output=True, text=True, check=True).stdout
    line = next(line for line in shown.replace("\\\n", " ").splitlines() if "agent-r1 train" in line)
    return shlex.split(line.split("agent-r1", 1)[1].split("$(test")[0])


def run_seed(out: Path, seed: int) -> dict:
    run_dir = out / f"seed-{seed}"
    folder, timing = RunFolder(run_dir), run_dir / "demo_seconds.json"
    if not folder.summary.exists():
        resumed = folder.config.exists()
        started = time.perf_counter()
        command = [sys.executable, "-m", "agent_r1.trainer.cli", *demo_arguments(output_dir=str(run_dir)),
                   "--seed", str(seed), *(["--resume"] if resumed else [])]
        subprocess.run(command, check=True)
        timing.write_text(json.dumps({"seconds": time.perf_counter() - started, "resumed": resumed}))
    summary = json.loads(folder.summary.read_text())
    spent = json.loads(timing.read_text()) if timing.exists() else {"seconds": float("nan"), "resumed": True}
    return {"seed": seed, "minutes": spent["seconds"] / 60, "resumed": spent["resumed"],
            "em_before": summary["em_before"], "em_after": summary["em_after"],
            "gain_points": 100 * (summary["em_after"] - summary["em_before"]),
            "peak_resident_gb": summary.get("peak_resident_gb", float("nan"))}


def table(rows: list[dict]) -> str:
    lines = ["| seed | minutes | EM before | EM after | gain (points) | peak GB |", "|---|---|---|---|---|---|"]
    for r in rows:
        minutes = f"{r['minutes']:.1f}" + (" (resumed)" if r["resumed"] else "")
        lines.append(f"| {r['seed']} | {minutes} | {r['em_before']:.3f} | {r['em_after']:.3f} | {r['gain_points']:+.1f} | "
                     f"{r['peak_resident_gb']:.1f} |")
    gain = statistics.median(r["gain_points"] for r in rows)
    minutes = statistics.median(r["minutes"] for r in rows)
    lines += ["", f"Median of {len(rows)}: {minutes:.1f} minutes (target: at most 15), {gain:+.1f} EM points over the "
              f"warm start (target: at least +10)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/demo-seeds"))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    if not seeds:
        parser.error("--seeds names no seed")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [run_seed(args.out, seed) for seed in seeds]
    report(args.out, "demo_seeds", {str(r["seed"]): r for r in rows}, table(rows))
    return rows


if __name__ == "__main__":
    main()
