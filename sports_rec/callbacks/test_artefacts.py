"""Writes the test artefacts of a run (see :mod:`sports_rec.reporting.per_run.artefacts`).

Used by both ``train`` (after fitting) and ``evaluate`` (from a checkpoint), so the two
always produce the same files. Misclassified samples are collected batch by batch (only
their indices, so memory stays flat) and drawn from the source files at the end.

``test_metrics.json`` is written first; the optional artefacts (per-class table, confusion
matrix, gallery) follow, each on its own, so a failing plot costs a warning, never the
metrics. When another split is evaluated in the test stage (``evaluate split=train``, a
baseline evaluated without training), the files are named after it: ``train_metrics.json``,
``train_per_class.csv``, ``train_confusion_matrix.csv/.png`` (no gallery).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from sports_rec.errors import ConfigError, SportsRecError
from sports_rec.reporting.per_run.artefacts import (
    GALLERY_ORDERS,
    choose_gallery,
    gallery_caption,
    metrics_record,
    per_class_table,
    write_confusion_matrix,
    write_gallery_list,
    write_misclassified_gallery,
    write_per_class_table,
    write_test_metrics,
)
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)


def optional_artefact(name: str, write: Callable[[], Any]) -> None:
    """Run an optional artefact writer; a failure is logged and the run goes on."""
    try:
        write()
    except Exception as error:
        log.warning("Could not write %s (%s: %s)", name, type(error).__name__, error)


class ArtefactWriteError(SportsRecError, OSError):
    """A test artefact could not be written after the test ran (its metrics were logged)."""


def raise_on_lost_artefacts(trainer: L.Trainer, rerun: str) -> None:
    """After ``trainer.test``: if a test artefact could not be written, fail the run with the
    metrics and the command that writes them again (``rerun``) - after every other artefact
    and callback has had its turn, so nothing else is lost."""
    for callback in trainer.callbacks:
        failures = getattr(callback, "write_failures", None)
        if isinstance(callback, TestArtefactWriter) and failures:
            metrics = ", ".join(
                f"{k}={v:.4f}" for k, v in callback.record.items() if isinstance(v, float)
            )
            raise ArtefactWriteError(
                f"the test ran ({metrics}) but could not write {'; '.join(failures)}. The "
                f"other artefacts were written. Free the path, then write them again with: "
                f"{rerun}"
            )


class TestArtefactWriter(L.Callback):
    """After ``trainer.test``: test_metrics.json, per_class.csv, confusion matrix, gallery."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        output_dir: str,
        gallery_size: int = 32,
        ckpt_path: str | None = None,
        gallery_order: str = "classes",
    ) -> None:
        if gallery_order not in GALLERY_ORDERS:
            raise ConfigError(
                f"callbacks.test_artefacts.gallery_order must be one of {GALLERY_ORDERS}, got "
                f"{gallery_order!r}"
            )
        self.output_dir = Path(output_dir)
        self.ckpt_path = ckpt_path  # recorded when the model was loaded outside the trainer
        self.gallery_size = gallery_size
        self.gallery_order = gallery_order
        self.misclassified: list[dict[str, Any]] = []
        self.record: dict[str, Any] = {}
        self.write_failures: list[str] = []  # files that could not be written (see train)

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.misclassified = []
        self.write_failures = []

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not isinstance(outputs, dict):
            return
        # every error is kept (four numbers each): the gallery chooses among all of them
        wrong = (outputs["preds"] != outputs["labels"]).nonzero().flatten().tolist()
        for i in wrong:
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
        prefix = getattr(pl_module, "test_prefix", "test")
        if prefix != "test":
            self._write_split(trainer, pl_module, prefix)
            return
        class_names = list(pl_module.class_names)
        ckpt = trainer.ckpt_path or self.ckpt_path
        extra = {
            "ckpt_path": str(Path(ckpt).resolve()) if ckpt else None,
            "epoch": getattr(pl_module, "weights_epoch", None),
        }
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / "test_metrics.json"
        try:
            self.record = write_test_metrics(path, trainer.callback_metrics, extra)
        except OSError as error:
            # Checked before training, but the disk can change: keep the metrics (printed
            # and raised by the run after every other artefact is written), lose nothing.
            self.record = metrics_record(trainer.callback_metrics, extra)
            self.write_failures.append(f"'{path}' ({type(error).__name__}: {error})")
            log.error(
                "Could not write %s; the test metrics are:\n%s",
                path,
                json.dumps(self.record, indent=2),
            )
        results = getattr(pl_module, "test_results", {})
        if results:
            optional_artefact(
                "per_class.csv",
                lambda: write_per_class_table(self.output_dir, results, class_names),
            )
            optional_artefact(
                "the confusion matrix",
                lambda: write_confusion_matrix(
                    self.output_dir, results["confusion_matrix"].numpy(), class_names
                ),
            )
        dataset = getattr(trainer.test_dataloaders, "dataset", None)
        paths = getattr(dataset, "paths", None)
        if paths is not None and self.misclassified:
            chosen = choose_gallery(self.misclassified, self.gallery_size, self.gallery_order)
            samples = self._gallery_samples(dataset, paths, chosen)
            caption = gallery_caption(
                self.gallery_order,
                len(samples),
                len(self.misclassified),
                len({s["true"] for s in self.misclassified}),
            )
            optional_artefact(
                "misclassified.png",
                lambda: write_misclassified_gallery(
                    self.output_dir / "misclassified.png",
                    samples,
                    class_names,
                    self.gallery_size,
                    unit=getattr(dataset, "unit", "image"),
                    caption=caption,
                ),
            )
            optional_artefact(
                "misclassified.csv",
                lambda: write_gallery_list(
                    self.output_dir / "misclassified.csv", samples, class_names
                ),
            )

    def _gallery_samples(
        self, dataset: Any, paths: list[str], chosen: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The chosen samples with what to draw: the dataset's ``preview`` of the sample
        where it has one (a clip's middle frame), else the source image file."""
        preview = getattr(dataset, "preview", None)
        return [
            dict(s, path=paths[s["index"]], image=preview(s["index"]) if preview else None)
            for s in chosen
        ]

    def _write_split(self, trainer: L.Trainer, pl_module: L.LightningModule, prefix: str) -> None:
        """The artefacts of another split evaluated in the test stage, named after it."""
        metrics = {k: v for k, v in trainer.callback_metrics.items() if k.startswith(f"{prefix}/")}
        record = {k: float(v) for k, v in sorted(metrics.items())}
        record["epoch"] = getattr(pl_module, "weights_epoch", None)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / f"{prefix}_metrics.json").write_text(json.dumps(record, indent=2) + "\n")
        results = getattr(pl_module, "test_results", {})
        if results:
            class_names = list(pl_module.class_names)
            optional_artefact(
                f"{prefix}_per_class.csv",
                lambda: per_class_table(results, class_names).to_csv(
                    self.output_dir / f"{prefix}_per_class.csv", index=False
                ),
            )
