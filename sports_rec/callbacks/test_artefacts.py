"""Writes the test artefacts of a run (see :mod:`sports_rec.reporting.artefacts`).

Used by both ``train`` (after fitting) and ``evaluate`` (from a checkpoint), so the two
always produce the same files. Misclassified samples are collected batch by batch (only
their indices, so memory stays flat) and drawn from the source files at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from sports_rec.reporting.artefacts import write_misclassified_gallery, write_test_artefacts


class TestArtefactWriter(L.Callback):
    """After ``trainer.test``: test_metrics.json, per_class.csv, confusion matrix, gallery."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, output_dir: str, gallery_size: int = 32, ckpt_path: str | None = None
    ) -> None:
        self.output_dir = Path(output_dir)
        self.ckpt_path = ckpt_path  # recorded when the model was loaded outside the trainer
        self.gallery_size = gallery_size
        self.misclassified: list[dict[str, Any]] = []
        self.record: dict[str, Any] = {}

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.misclassified = []

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not isinstance(outputs, dict) or len(self.misclassified) >= self.gallery_size:
            return
        wrong = (outputs["preds"] != outputs["labels"]).nonzero().flatten().tolist()
        for i in wrong[: self.gallery_size - len(self.misclassified)]:
            self.misclassified.append(
                {
                    "index": int(outputs["index"][i]),
                    "true": int(outputs["labels"][i]),
                    "pred": int(outputs["preds"][i]),
                    "confidence": float(outputs["confidence"][i]),
                }
            )

    @rank_zero_only
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        class_names = list(pl_module.class_names)
        ckpt = trainer.ckpt_path or self.ckpt_path
        extra = {"ckpt_path": str(Path(ckpt).resolve()) if ckpt else None}
        self.record = write_test_artefacts(
            self.output_dir,
            trainer.callback_metrics,
            getattr(pl_module, "test_results", {}),
            class_names,
            extra,
        )
        dataset = getattr(trainer.test_dataloaders, "dataset", None)
        paths = getattr(dataset, "paths", None)
        if paths is not None and self.misclassified:
            samples = [dict(s, path=paths[s["index"]]) for s in self.misclassified]
            write_misclassified_gallery(
                self.output_dir / "misclassified.png", samples, class_names, self.gallery_size
            )
