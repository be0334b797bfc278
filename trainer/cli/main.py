"""The `agent-r1` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import gymnasium as gym

from agent_r1.envs.registration import DATASET_ENV_IDS, unknown_env_ids
from agent_r1.tools.paths import DEFAULT_MODEL
from agent_r1.trainer.cli.args import (checksum, names_list, non_negative_float, non_negative_int, output_dir,
                                       output_file, positive_float, positive_int)
from agent_r1.trainer.config_sections import KV_CACHE_HELP


def _parse_env_kwargs(pairs: list[str], option: str = "--env-arg", *, per_env: bool = False) -> dict:
    """KEY=VALUE pairs, VALUE parsed as JSON where it can be; with `per_env`, ENV_ID:KEY=VALUE goes under the env's
    id ({ENV_ID: {KEY: VALUE}}: that env's own argument; an id may hold ':' itself, a keyword never does)."""
    kwargs: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        env_id, colon, key = key.rpartition(":") if per_env else ("", "", key)
        if not sep or not key or (colon and not env_id):
            raise SystemExit(f"error: {option} takes {'[ENV_ID:]' if per_env else ''}KEY=VALUE, got {pair!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value  # a bare string
        except (ValueError, RecursionError):  # JSON, but an integer too long for Python or nesting too deep
            raise SystemExit(f"error: {option} {key}: the value is JSON that cannot be read ({len(value)} characters)") from None
        (kwargs.setdefault(env_id, {}) if env_id else kwargs)[key] = parsed
    return kwargs


def _check_env(env_id: str, env_kwargs: dict) -> None:
    """Makes the env once: an argument it does not take or a missing data file is one line now, not a traceback later."""
    try:
        gym.make(env_id, **env_kwargs).close()
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise SystemExit(f"error: {env_id}: {exc}") from None


def cmd_eval(args: argparse.Namespace) -> int:
    import agent_r1.envs  # noqa: F401  (registers the ids)
    from agent_r1.benchmarks.evaluation.evaluate import format_table

    if unknown := unknown_env_ids([args.env]):
        known = ", ".join(sorted(i for i in gym.registry if i.startswith("AgentR1/")))
        raise SystemExit(f"error: unknown env {unknown[0]}; registered: {known} (or MODULE:ID, imported first)")
    env_kwargs = _parse_env_kwargs(args.env_arg)
    _check_env(args.env, env_kwargs)
    try:
        results = _evaluate_all(args, env_kwargs)
    except (FileNotFoundError, ValueError) as exc:  # missing data, a corrupt file, a bad env argument
        raise SystemExit(f"error: {exc}") from None
    print(format_table(results))
    if args.output:
        payload = results[0] if len(results) == 1 else {"results": results}
        try:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(payload, indent=1, default=str))
        except OSError as exc:  # checked at the start, but the disk can fill or the folder change meanwhile
            raise SystemExit(f"error: cannot write {args.output}: {exc}") from None
        print(f"wrote {args.output}")
    return 0


EVAL_POLICIES = (f"oracle, random, {DEFAULT_MODEL} (the embedded default model), a model directory, "
                 "a run folder of `agent-r1 train`, or hf:HUB_ID (a Hugging Face hub model, e.g. hf:Qwen/Qwen2.5-3B-Instruct)")


def _check_policies(names: list[str]) -> None:
    """Every name is known, checked offline before any runs: a typo fails now, with the choices,
    instead of being taken for a hub id and costing a minute of network retries."""
    from agent_r1.benchmarks.evaluation.policies import POLICIES
    from agent_r1.trainer.rollout.models import ModelNotFoundError, check_model

    for name in names:
        if name in POLICIES:
            continue
        try:
            check_model(name)
        except ModelNotFoundError as exc:
            raise SystemExit(f"error: unknown policy {name!r}: {exc}. Known policies: {EVAL_POLICIES}") from None


def _evaluate_all(args: argparse.Namespace, env_kwargs: dict) -> list[dict]:
    from agent_r1.benchmarks.evaluation.evaluate import evaluate, evaluate_model
    from agent_r1.benchmarks.evaluation.policies import POLICIES, make_policy

    names = names_list(args.policy, "--policy")
    _check_policies(names)
    results = []
    for name in names:
        if name in POLICIES:
            results.append(evaluate(args.env, make_policy(name), args.episodes, seed=args.seed, env_kwargs=env_kwargs,
                                    progress=not args.quiet))
            continue
        from agent_r1.trainer.rollout.models import ModelNotFoundError
        from agent_r1.trainer.rollout.engine import RolloutConfig

        config = RolloutConfig(max_tokens_per_turn=args.max_tokens_per_turn, max_total_tokens=args.max_total_tokens,
                               temperature=args.temperature)
        try:
            results.append(evaluate_model(args.env, name, args.episodes, seed=args.seed, env_kwargs=env_kwargs,
                                          backend=args.backend, batch_size=args.batch_size, rollout_config=config,
                                          progress=not args.quiet, continuous=args.continuous, dtype=args.dtype,
                                          kv_cache_gb=args.kv_cache_gb))
        except (ModelNotFoundError, ImportError) as exc:
            raise SystemExit(f"error: policy {name!r} is neither {' nor '.join(POLICIES)} nor a loadable model: {exc}") from None
    return results


def cmd_data_download(args: argparse.Namespace) -> int:
    from agent_r1.envs.datasets.download import DownloadError, download
    from agent_r1.tools.paths import data_home

    splits = ["dev", "train"] if args.split == "all" else [args.split]
    for split in splits:
        try:
            path = download(args.dataset, split, root=args.root, url=args.url, checksum=args.checksum,
                            progress=not args.quiet)
        except (DownloadError, ValueError, OSError) as exc:  # OSError: the cache folder cannot be written
            raise SystemExit(f"error: {exc}") from None
        print(f"{args.dataset} {split}: {path}")
    if not args.root:
        print(f"(the cache is {data_home()}; set AGENT_R1_DATA to move it)")
    return 0


DATASET_ENVS = tuple(DATASET_ENV_IDS.values())


def _bench_env_kwargs(args: argparse.Namespace, envs: list[str]) -> dict[str, dict]:
    from agent_r1.benchmarks.evaluation.reference import short_name

    shared = _parse_env_kwargs(args.env_arg)
    per_env = {env: dict(shared) for env in envs}
    for env in envs:
        if env in DATASET_ENVS and args.setting:
            per_env[env]["setting"] = args.setting
    for pair in args.data_path:
        name, sep, path = pair.partition("=")
        known = list(dict.fromkeys([*envs, *DATASET_ENVS]))
        matches = [e for e in known if name in (e, short_name(e))]
        if not sep or not matches:
            raise SystemExit(f"error: --data-path takes ENV=PATH with ENV one of {', '.join(map(short_name, known))}, got {pair!r}")
        if matches[0] in per_env:  # a path for an env not benchmarked this time is not needed
            per_env[matches[0]]["data_path"] = path
    return per_env


def cmd_bench(args: argparse.Namespace) -> int:
    if args.compare:
        from agent_r1.benchmarks.evaluation.compare import compare, format_comparison

        try:
            print(format_comparison(compare(Path(args.compare[0]), Path(args.compare[1]), metric=args.metric), args.metric))
        except (FileNotFoundError, ValueError) as exc:
            raise SystemExit(f"error: {exc}") from None
        return 0
    if not args.out:
        raise SystemExit("error: bench needs --out DIR (or --compare A B)")
    import agent_r1.envs  # noqa: F401
    from agent_r1.benchmarks.evaluation.agents import EndpointError, check_agent, make_agent
    from agent_r1.benchmarks.evaluation.harness import paper_table, run_bench
    from agent_r1.envs.datasets import SETTINGS

    if args.setting is not None and args.setting not in SETTINGS:
        raise SystemExit(f"error: --setting must be one of {', '.join(SETTINGS)}, got {args.setting!r}")
    envs = names_list(args.envs, "--envs")
    policies = names_list(args.policies, "--policies")
    if unknown := unknown_env_ids(envs):
        raise SystemExit(f"error: unknown env(s) {', '.join(unknown)}")
    env_kwargs = _bench_env_kwargs(args, envs)
    for env in envs:  # a missing dataset file fails now, not after the first policy has run
        _check_env(env, env_kwargs[env])
    from agent_r1.trainer.rollout.models import ModelNotFoundError

    try:
        for spec in policies:  # every spelling is checked, offline, before the first model loads
            check_agent(spec)
        agents = [make_agent(spec, backend=args.backend, max_tokens_per_turn=args.max_tokens_per_turn, dtype=args.dtype,
                             kv_cache_gb=args.kv_cache_gb) for spec in policies]
        summary = run_bench(agents, envs, args.out, limit=args.limit, seed=args.seed, env_kwargs=env_kwargs,
                            batch_size=args.batch_size, progress=not args.quiet, include_paper=args.paper)
    except (ValueError, ModelNotFoundError) as exc:
        raise SystemExit(f"error: {exc}") from None
    except EndpointError as exc:
        raise SystemExit(f"error: {exc}. The finished episodes are kept in {args.out}: run the same command to resume.") from None
    print(paper_table(summary, include_paper=args.paper))
    print(f"wrote {args.out}/results.md, summary.json, em.png and episodes/")
    return 0


# The env arguments: a dict field each, given as repeatable KEY=VALUE flags.
# The env arguments (the dict fields), given as repeatable flags, VALUE parsed as JSON where it can be.
ENV_ARG_SYNTAX = " (repeatable: KEY=VALUE, or ENV_ID:KEY=VALUE for one env alone, e.g. data_path=FILE)"


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    """One option per setting of TrainConfig; unset options keep the config file's or the default value."""
    from agent_r1.trainer.train_config import option_defaults, help_text

    for name, default in option_defaults().items():
        option, text = _option(name), help_text(name)
        if isinstance(default, dict):
            parser.add_argument(option, dest=name, action="append", default=None, metavar="[ENV_ID:]KEY=VALUE",
                                help=text + ENV_ARG_SYNTAX)
        elif isinstance(default, bool):
            parser.add_argument(option, dest=name, action="store_true", default=None, help=text)
        else:
            parser.add_argument(option, dest=name, type=type(default), default=None,
                                metavar=type(default).__name__.upper(), help=f"{text} (default: {default})".lstrip())


def _option(name: str) -> str:
    """The flag of a setting's command-line name (train_config.option_defaults): warm_start_epochs is
    --warm-start-epochs."""
    return "--" + name.replace("_", "-")


def cmd_train(args: argparse.Namespace) -> int:
    from agent_r1.trainer.train_config import TrainConfig, option_defaults

    overrides = {}
    for name, default in option_defaults().items():
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = _parse_env_kwargs(value, _option(name), per_env=True) if isinstance(default, dict) else value
    try:
        config = TrainConfig.from_file(args.config, **overrides) if args.config else TrainConfig.from_dict(overrides)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    import agent_r1.envs  # noqa: F401
    from agent_r1.trainer.splits import eval_env_ids, train_env_ids

    if unknown := unknown_env_ids(train_env_ids(config) + eval_env_ids(config)):
        raise SystemExit(f"error: unknown env(s) {', '.join(unknown)}")
    try:
        output_dir(config.output_dir)
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"error: --output-dir: {exc}") from None
    from agent_r1.trainer.rollout.checkpoints import CorruptCheckpointError
    from agent_r1.trainer.rollout.models import ModelNotFoundError
    from agent_r1.trainer.splits import EnvArgumentError
    from agent_r1.trainer.train import BatchSplitError, RunExistsError, train

    try:
        summary = train(config, resume=args.resume)
    except (RunExistsError, CorruptCheckpointError, ModelNotFoundError, FileNotFoundError, EnvArgumentError,
            BatchSplitError) as exc:
        raise SystemExit(f"error: {exc}") from None
    if summary is None:  # a data-parallel process other than the main one: the main one reports
        return
    print(f"{summary['algo']} on {summary['env']}, {summary['steps']} steps: held-out EM "
          f"{summary['em_before']:.3f} -> {summary['em_after']:.3f} ({summary['em_after'] - summary['em_before']:+.3f}), "
          f"F1 {summary['f1_before']:.3f} -> {summary['f1_after']:.3f} on {summary['eval_episodes']} episodes"
          + (" (the mean over held-out envs)" if len(summary["eval"]) > 1 else ""))
    if len(summary["eval"]) > 1:
        for env_id, result in summary["eval"].items():
            print(f"  {env_id}: EM {result['em_before']:.3f} -> {result['em_after']:.3f}, "
                  f"F1 {result['f1_before']:.3f} -> {result['f1_after']:.3f} on {result['episodes']} episodes")
    print(f"RL took {summary['rl_seconds_this_session'] / 60:.1f} min; adapter in {summary['final']}, "
          f"metrics in {summary['metrics']}" + (f", curve in {summary['curve']}" if summary["curve"] else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-r1", description="Train and benchmark LLM agents that use tools.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)

    ev = commands.add_parser("eval", help="run a policy on an environment and report EM, F1 and more")
    ev.add_argument("--env", default="AgentR1/SynthHop-v0", help="a registered environment id (default: %(default)s)")
    ev.add_argument("--policy", default="oracle",
                    help=f"oracle, random, a model ({DEFAULT_MODEL}, a model directory, a run folder of "
                         "`agent-r1 train`, or hf:HUB_ID for a Hugging Face hub model, e.g. hf:Qwen/Qwen2.5-3B-Instruct; "
                         "any other name fails at once), or several separated by commas")
    ev.add_argument("--episodes", type=positive_int, default=100)
    ev.add_argument("--seed", type=non_negative_int, default=0, help="seed of the first episode; episode i uses seed + i")
    ev.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="keyword argument of the env, VALUE parsed as JSON where it can be (repeatable)")
    ev.add_argument("--output", type=output_file,
                    help="write the summary and every episode (with its transcript) to this JSON file")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    model = ev.add_argument_group("model policies")
    model.add_argument("--backend", choices=["transformers", "vllm"], default="transformers")
    model.add_argument("--batch-size", type=positive_int, default=16, help="episodes generated together")
    model.add_argument("--continuous", action="store_true",
                       help="continuous batching: an episode's next turn joins the batch as soon as its env answers")
    model.add_argument("--temperature", type=non_negative_float, default=0.0, help="0 samples greedily (default)")
    model.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                       help="the weights' precision; bfloat16 generates about twice as fast on a CPU with AVX-512 BF16")
    model.add_argument("--max-tokens-per-turn", type=positive_int, default=128)
    model.add_argument("--max-total-tokens", type=positive_int, default=2048)
    model.add_argument("--kv-cache-gb", type=positive_float, help=KV_CACHE_HELP)
    ev.set_defaults(func=cmd_eval)

    tr = commands.add_parser("train", help="train an agent with RL (optionally after a supervised warm start)")
    tr.add_argument("--config", help="a JSON or TOML file of settings (the options below override it)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --output-dir from its last checkpoint")
    _add_train_options(tr)
    tr.set_defaults(func=cmd_train)

    be = commands.add_parser("bench", help="benchmark agents across datasets (EM/F1 tables, a chart), resumable")
    be.add_argument("--envs", default=",".join(DATASET_ENVS), help="comma-separated env ids (default: the three datasets)")
    be.add_argument("--policies", default="oracle,random,naive-rag,base-tool-call",
                    help="comma-separated: oracle, random, naive-rag[:MODEL], base-tool-call[:MODEL], "
                         f"agent:MODEL_OR_RUN (MODEL: {DEFAULT_MODEL}, a directory, or hf:HUB_ID), "
                         "openai:MODEL@URL (key from $OPENAI_API_KEY; a request gets 60 s and 3 retries, so a dead "
                         "endpoint stops the bench after at most about 4 min; redirects are refused; a malformed "
                         "reply fails its episode alone)")
    be.add_argument("--setting", help="search setting of the dataset envs: pooled, distractor, corpus, remote")
    be.add_argument("--limit", type=positive_int, default=100, help="episodes per env (questions 0..limit-1)")
    be.add_argument("--seed", type=non_negative_int, default=0, help="first episode index")
    be.add_argument("--out", type=output_dir, help="the results folder; running again on it resumes")
    be.add_argument("--data-path", action="append", default=[], metavar="ENV=PATH",
                    help="a dataset file for one env, e.g. HotpotQA=dev.json (repeatable)")
    be.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="keyword argument of every env")
    be.add_argument("--batch-size", type=positive_int, default=16)
    be.add_argument("--backend", choices=["transformers", "vllm"], default="transformers")
    be.add_argument("--max-tokens-per-turn", type=positive_int, default=128)
    be.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                    help="the models' precision (a policy in bfloat16 is named with [bfloat16], its episodes kept apart)")
    be.add_argument("--kv-cache-gb", type=positive_float, help=KV_CACHE_HELP)
    be.add_argument("--paper", action="store_true", help="add the published Agent-R1 rows to the table (labelled)")
    be.add_argument("--compare", nargs=2, metavar=("A", "B"), help="show two results folders side by side")
    be.add_argument("--metric", default="em", help="metric of --compare (default: em)")
    be.add_argument("--quiet", action="store_true", help="no progress bar")
    be.set_defaults(func=cmd_bench)

    data = commands.add_parser("data", help="manage datasets").add_subparsers(dest="data_command", required=True)
    dl = data.add_parser("download", help="fetch an official dataset file into the cache ($AGENT_R1_DATA)")
    dl.add_argument("dataset", choices=["hotpotqa", "2wikimultihopqa", "musique"])
    dl.add_argument("--split", choices=["dev", "train", "all"], default="dev")
    dl.add_argument("--root", type=output_dir, help="the cache folder (default: $AGENT_R1_DATA or ~/.cache/agent_r1)")
    dl.add_argument("--url", help="download from this address instead (a mirror)")
    dl.add_argument("--checksum", type=checksum, help="expected ALGORITHM:HEX of the download, e.g. sha256:...")
    dl.add_argument("--quiet", action="store_true", help="no progress bar")
    dl.set_defaults(func=cmd_data_download)

    from agent_r1.trainer.cli.serve import add_parser as add_serve_parser

    add_serve_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
