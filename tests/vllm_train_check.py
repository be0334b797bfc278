"""Run as a script (vLLM needs a __main__ guard): `agent-r1 train --backend vllm` on a tiny model, in the toy env
whose rewards a random model varies (so that steps change the weights).

    python tests/vllm_train_check.py MODEL_DIR OUT [--skip-sync] [train options...]

--skip-sync makes the trainer's weight synchronisation a no-op: vLLM keeps serving the starting weights, which is
what the test must be able to tell from a synchronised run.
"""

import os
import sys


def main() -> int:
    args = sys.argv[1:]
    if "--skip-sync" in args:
        args.remove("--skip-sync")
        from agent_r1.trainer.weight_sync import PolicySync

        PolicySync.sync_weights = lambda self: None
    model, out, *extra = args
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import toy_env

    from agent_r1.trainer.cli import main as cli

    return cli(["train", "--model", model, "--output-dir", out, "--backend", "vllm", "--env", toy_env.ENV_ID, *extra])


if __name__ == "__main__":
    sys.exit(main())
