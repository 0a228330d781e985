"""Checkpoints that cost one file per training step, and survive a resume into a new folder.

A run keeps its best checkpoint by validation accuracy, its best by validation loss and
``last.ckpt`` (every epoch, for resuming). Early in training one epoch is often all three;
saved naively that is three identical files (59 MB each for a tiny ResNet with its
optimiser state; a 25-run sweep filled 4 GB). :class:`RunCheckpoint` is Lightning's
``ModelCheckpoint`` with two changes:

* **One file per step.** Saves requested at the same training step by any
  ``RunCheckpoint`` are written once, after the last of them has run its hook (so the file
  holds every callback's final state for that step), and the other names become hard
  links to it. Unlike a symbolic link (Lightning's ``save_last="link"``) a hard link stays
  valid when the best checkpoint it shares content with is replaced, and deleting a name
  never touches the others.
* **Resume into a new folder.** A resumed run writes its own run folder. Lightning would
  then forget the earlier best scores (its state names files in the old folder), so
  ``best`` would mean "best since the resume". Here the old folder's best and last files
  are hard-linked into the new ``checkpoints/`` under the same names and the restored
  state points at them: the new folder continues the run, the old one is left as it was.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from weakref import proxy

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from sports_rec.utils.logging import get_logger, global_rank

log = get_logger(__name__)

_PENDING = "_sports_rec_pending_checkpoints"


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    """Make ``target`` a hard link of ``source`` (a copy across file systems)."""
    target = Path(target)
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` sharing one file per step with its siblings; see the module doc."""

    # ------------------------------------------------------------------ one file per step
    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        pending: list[tuple[str, bool, RunCheckpoint]] = trainer.__dict__.setdefault(_PENDING, [])
        pending.append((filepath, bool(self.save_weights_only), self))
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath

    def _is_last_sibling(self, trainer: L.Trainer) -> bool:
        siblings = [c for c in trainer.callbacks if isinstance(c, RunCheckpoint)]
        return bool(siblings) and siblings[-1] is self

    def _flush(self, trainer: L.Trainer) -> None:
        """Write each pending checkpoint once (per weights-only flag) and link the others."""
        pending: list[tuple[str, bool, RunCheckpoint]] = trainer.__dict__.pop(_PENDING, [])
        written: dict[bool, str] = {}
        for filepath, weights_only, owner in pending:
            source = written.get(weights_only)
            if source is None:
                if trainer.is_global_zero and (
                    os.path.islink(filepath) or os.path.isfile(filepath)
                ):
                    os.remove(filepath)  # never write through a hard link into a sibling
                trainer.save_checkpoint(filepath, weights_only)
                written[weights_only] = filepath
            elif os.path.abspath(source) != os.path.abspath(filepath):
                if trainer.is_global_zero:
                    _link_or_copy(source, filepath)
                trainer.strategy.barrier("RunCheckpoint link")
            if trainer.is_global_zero:
                for logger in trainer.loggers:
                    logger.after_save_checkpoint(proxy(owner))

    def _flush_if_last(self, trainer: L.Trainer) -> None:
        if self._is_last_sibling(trainer) and trainer.__dict__.get(_PENDING):
            self._flush(trainer)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        super().on_train_batch_end(trainer, *args, **kwargs)
        self._flush_if_last(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._flush_if_last(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        self._flush_if_last(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        if trainer.__dict__.get(_PENDING):
            self._flush(trainer)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        super().on_exception(trainer, pl_module, exception)
        if trainer.__dict__.get(_PENDING):
            self._flush(trainer)

    # ------------------------------------------------------------------ resume
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old_dir = state_dict.get("dirpath")
        if old_dir and self.dirpath and os.path.abspath(old_dir) != os.path.abspath(self.dirpath):
            state_dict = self._carry_over(dict(state_dict), Path(old_dir), Path(self.dirpath))
        super().load_state_dict(state_dict)

    def _carry_over(self, state: dict[str, Any], old_dir: Path, new_dir: Path) -> dict[str, Any]:
        """Link the old folder's checkpoints that ``state`` names into ``new_dir``; return the
        state with its paths moved there (names of files that are gone are kept as they are:
        Lightning only ever compares or deletes them)."""
        writer = global_rank() == 0  # other DDP ranks only rename, rank 0 links the files
        if writer:
            new_dir.mkdir(parents=True, exist_ok=True)

        def move(path: Any) -> Any:
            if not path:
                return path
            source = Path(path)
            if source.parent.resolve() != old_dir.resolve() or not source.is_file():
                return path
            target = new_dir / source.name
            if writer and not target.exists():
                _link_or_copy(source, target)
            return str(target)

        for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
            if key in state:
                state[key] = move(state[key])
        if isinstance(state.get("best_k_models"), dict):
            state["best_k_models"] = {move(k): v for k, v in state["best_k_models"].items()}
        state["dirpath"] = self.dirpath
        log.info("Resumed checkpoints of %s carried over into %s", old_dir, new_dir)
        return state
