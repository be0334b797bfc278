"""How AgentTrainer writes and reads checkpoints: atomically, with PPO's value head, and on CPUs under several
processes. A mixin over transformers' Trainer; trainer/rollout/checkpoints.py checks what it wrote."""

from __future__ import annotations

import os
import shutil

import torch

STAGING = ".staging"


class AtomicCheckpoints:
    """Needs, from the trainer: `clock` (a PhaseClock) and `value_head` (None but for PPO)."""

    _staging = False

    def _get_output_dir(self, trial):
        real = super()._get_output_dir(trial)
        return os.path.join(real, STAGING) if self._staging else real

    def _save_checkpoint(self, model, trial) -> None:
        with self.clock.phase("checkpoint"):
            self._save_checkpoint_atomically(model, trial)

    def _save_checkpoint_atomically(self, model, trial) -> None:
        """Written in a staging folder, then renamed: a checkpoint-N folder is always complete."""
        run_dir = self._get_output_dir(trial)
        name = f"checkpoint-{self.state.global_step}"
        if self.args.should_save:
            shutil.rmtree(os.path.join(run_dir, STAGING), ignore_errors=True)
        self.accelerator.wait_for_everyone()  # no process writes its part (RNG state) in a staging folder being removed
        self._staging = True
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging = False
        self.accelerator.wait_for_everyone()  # every process's part is in the staging folder before it is renamed
        if self.args.should_save:
            final = os.path.join(run_dir, name)
            if os.path.exists(final):
                shutil.rmtree(final)
            os.replace(os.path.join(run_dir, STAGING, name), final)
            shutil.rmtree(os.path.join(run_dir, STAGING), ignore_errors=True)
            from transformers.trainer_utils import rotate_checkpoints

            rotate_checkpoints(output_dir=run_dir, save_total_limit=self.args.save_total_limit,
                               best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=False)

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        super()._save(output_dir, state_dict)
        if self.value_head is not None:
            self.value_head.save(output_dir or self.args.output_dir)

    def _load_optimizer_and_scheduler(self, checkpoint) -> None:
        """transformers loads the optimiser state with map_location=args.device when several processes train; on CPUs
        that is "cpu:RANK", a location torch cannot restore to (a resumed 2-process CPU run failed on it). The state
        is read onto the CPU instead, where those processes train anyway."""
        if checkpoint is None or self.args.world_size == 1 or self.args.device.type != "cpu":
            return super()._load_optimizer_and_scheduler(checkpoint)
        load = torch.load
        torch.load = lambda *args, map_location=None, **kwargs: load(*args, map_location="cpu", **kwargs)
        try:
            super()._load_optimizer_and_scheduler(checkpoint)
        finally:
            torch.load = load

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        if self.value_head is not None and not self.value_head.load(resume_from_checkpoint):
            raise FileNotFoundError(f"{resume_from_checkpoint} holds no value head: not a PPO checkpoint")
