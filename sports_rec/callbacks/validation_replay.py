"""Never test twice: the test stage reuses the last validation pass when it *was* the test.

With ``data.val_split=test`` every validation pass scores the test split with the
evaluation transform. When the checkpoint to test holds the weights that pass scored
(``last.ckpt``, or the best checkpoint saved at that pass), a real test pass computes the
very same logits a second time: seconds of a small CPU run.

:class:`ValidationRecord` keeps what the latest validation pass computed, batch by batch as
the loop saw them: the logits, the labels and the sample indices. :func:`run_test` then runs
``trainer.test`` over a *replay* of those batches: the classifier's ``test_step`` and every
test callback run as in a real pass (metrics and loss, per-class table, confusion matrix,
gallery, clip predictions and segments, W&B logs, ``test_metrics.json``); only the net's
forward is replaced by the recorded logits, and no sample is read. The replay's dataset
stands in for the test dataset (file paths, previews, clip table), so the gallery draws the
same files. ``test/samples_per_sec`` is the rate of the validation pass replayed.

Reuse is taken only where it is exact (:func:`why_not_reused` names the first reason it is
not): one device; the recorded pass scored the whole test split; the tested weights are
the ones it scored (the checkpoint's step and epoch, or no step since); nothing changes the
weights outside the optimiser (weight averaging, pruning); the test is not limited.
Otherwise, and with ``test_reuse_val=false``, the test is a real pass. One log line says
which was done and why.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelPruning, StochasticWeightAveraging
from torch.utils.data import DataLoader, Dataset

from sports_rec.utils.logging import get_logger

if TYPE_CHECKING:
    from sports_rec.data.datamodule import SportsDataModule

log = get_logger(__name__)

LOGITS = "recorded_logits"  # the batch entry a replayed batch carries its logits in


def weight_changing_callbacks() -> tuple[type, ...]:
    """Callbacks that change the weights outside the optimiser steps: the weights a
    validation pass scored need not be the ones a checkpoint or the trainer holds after."""
    from lightning.pytorch import callbacks

    averaging = getattr(callbacks, "WeightAveraging", None)  # Lightning >= 2.5
    return (StochasticWeightAveraging, ModelPruning, *([averaging] if averaging else []))


class ValidationRecord(L.Callback):
    """Keeps the logits, labels and indices of the latest validation pass (not the sanity
    check), and the training step and epoch whose weights it scored.

    Args:
        enabled: record at all (``test_reuse_val``); disabled, it holds nothing.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.unusable: str | None = None  # why no pass of this run can be replayed
        self.batches: list[dict[str, torch.Tensor]] = []
        self.epoch: int | None = None  # set when the pass ends: None = no complete pass
        self.global_step: int | None = None

    def _recording(self, trainer: L.Trainer) -> bool:
        return self.enabled and self.unusable is None and not trainer.sanity_checking

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._recording(trainer):
            self.batches, self.epoch, self.global_step = [], None, None

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not self._recording(trainer):
            return
        if dataloader_idx:
            self.unusable = "several validation dataloaders"
        elif not isinstance(outputs, Mapping) or "logits" not in outputs:
            self.unusable = "validation_step returns no logits"
        if self.unusable:
            self.batches, self.epoch, self.global_step = [], None, None
            return
        # kept where they are (no device sync); one pass of logits is small
        self.batches.append(
            {LOGITS: outputs["logits"], "label": outputs["labels"], "index": batch["index"]}
        )

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._recording(trainer):
            self.epoch, self.global_step = int(trainer.current_epoch), int(trainer.global_step)

    def samples(self) -> torch.Tensor:
        """The indices of the samples the recorded pass scored, in its order (on the CPU)."""
        if not self.batches:
            return torch.empty(0, dtype=torch.long)
        return torch.cat([b["index"].reshape(-1).cpu() for b in self.batches])


class ReplayedValidation(Dataset):
    """The recorded batches, one item each (load it with ``batch_size=None``), standing in
    for the test dataset: every other attribute (``paths``, ``preview``, ``clips``...) is
    the test dataset's, which the test callbacks read."""

    replays_validation = True

    def __init__(self, batches: list[dict[str, torch.Tensor]], test_dataset: Any) -> None:
        self.batches = batches
        self.test_dataset = test_dataset

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.batches[i]

    def __getattr__(self, name: str) -> Any:
        if name in ("batches", "test_dataset") or name.startswith("__"):
            raise AttributeError(name)  # not set yet (copying, unpickling)
        return getattr(self.test_dataset, name)


def is_replay(trainer: L.Trainer) -> bool:
    """Whether the trainer's current test replays a validation pass (no forward pass ran)."""
    dataset = getattr(trainer.test_dataloaders, "dataset", None)
    return bool(getattr(dataset, "replays_validation", False))


def checkpoint_step(path: str) -> tuple[int, int] | None:
    """``(epoch, global_step)`` a checkpoint was saved at (its tensors are not read)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        return int(checkpoint["epoch"]), int(checkpoint["global_step"])
    except Exception:  # any trouble: the real pass reads it and says what is wrong
        return None


def full_test(trainer: L.Trainer, batches: int) -> bool:
    """Whether the test stage would run every batch (``trainer.limit_test_batches``)."""
    limit = trainer.limit_test_batches
    if isinstance(limit, float):
        return limit == 1.0
    return limit is None or limit >= batches


def why_not_reused(
    trainer: L.Trainer, record: ValidationRecord | None, test_dataset: Any, ckpt: str | None
) -> str | None:
    """Why the test must be a real pass; None when replaying ``record`` is that pass (the
    validation split being the test split is the caller's to check)."""
    if record is None:
        return "no validation pass in this run"
    if not record.enabled:
        return "test_reuse_val=false"
    if record.unusable:
        return record.unusable
    if trainer.world_size > 1:
        return f"{trainer.world_size} devices: validation is replayed on one device only"
    changing = [
        type(c).__name__ for c in trainer.callbacks if isinstance(c, weight_changing_callbacks())
    ]
    if changing:
        return f"{', '.join(changing)} changes the weights outside the optimiser steps"
    if record.epoch is None or not record.batches:
        return "no complete validation pass was recorded"
    if not full_test(trainer, len(record.batches)):
        return f"trainer.limit_test_batches={trainer.limit_test_batches} limits the test"
    seen, size = record.samples(), len(test_dataset)
    if len(seen) != size or not torch.equal(seen.sort().values, torch.arange(size)):
        return (
            f"the last validation pass scored {len(seen)} of the {size} test samples "
            "(trainer.limit_val_batches?)"
        )
    if ckpt is None:
        if trainer.global_step != record.global_step:
            return (
                f"the current weights are from step {trainer.global_step}, the last "
                f"validation pass scored step {record.global_step}'s"
            )
        return None
    saved = checkpoint_step(ckpt)
    if saved is None:
        return f"could not read the step {Path(ckpt).name} was saved at"
    if saved != (record.epoch, record.global_step):
        return (
            f"{Path(ckpt).name} is from epoch {saved[0]} (step {saved[1]}), the last "
            f"validation pass from epoch {record.epoch} (step {record.global_step})"
        )
    return None


def _recorded_logits(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return batch[LOGITS]


@contextmanager
def recorded_forward(model: L.LightningModule) -> Iterator[None]:
    """Within: the model's forward returns the logits a replayed batch carries."""
    model.forward = _recorded_logits  # an instance attribute shadows the class's forward
    try:
        yield
    finally:
        del model.forward


def run_test(
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: SportsDataModule,
    ckpt: str | None,
    record: ValidationRecord | None,
) -> bool:
    """``trainer.test`` of ``ckpt`` (None: the current weights): a replay of the recorded
    validation pass where that is the test pass (see the module docstring), else a real
    pass over the datamodule's test split. Returns whether the validation pass was reused."""
    reason = "validation is not the test split"
    if datamodule.val_is_test:
        datamodule.setup("test")  # the datasets of every stage, built once (done by fit)
        reason = why_not_reused(trainer, record, datamodule.datasets["test"], ckpt)
    if reason is not None:
        log.info("test: a real pass (%s)", reason)
        trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
        return False
    assert record is not None
    log.info(
        "test: reused the last validation pass (val = test split, epoch %d weights)", record.epoch
    )
    replay = ReplayedValidation(record.batches, datamodule.datasets["test"])  # its stand-in
    with recorded_forward(model), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        trainer.test(
            model,
            dataloaders=DataLoader(replay, batch_size=None),
            ckpt_path=ckpt,
            weights_only=True,
        )
    return True
