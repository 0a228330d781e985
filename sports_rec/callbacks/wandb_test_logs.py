"""Test results in W&B, and the run config that lets W&B compare the runs of a study.

:class:`WandbTestLogger` puts a run's test artefacts where W&B can show them side by side
across runs: the confusion matrix as a W&B chart, ``per_class.csv`` as a table and the
misclassified gallery as an image. Without a ``WandbLogger`` among the trainer's loggers it
does nothing and imports nothing from wandb.

What ``conf/logger/wandb.yaml`` passes to ``wandb.init`` (group and tags, through nested
``_target_`` nodes) is built in :mod:`sports_rec.utils.run_identity`, which needs no
Lightning; here:

* :func:`logged_config` - the resolved config as nested keys (the W&B UI flattens them to
  ``optimizer.lr`` etc., so any override can be filtered) plus a ``choices`` node with the
  stable comparison keys the dashboard (:mod:`sports_rec.dashboard`) groups by.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from sports_rec.utils.logging import get_logger
from sports_rec.utils.run_identity import (
    comparison_keys,
)

log = get_logger(__name__)

GALLERY_FILE = "misclassified.png"


def logged_config(cfg: DictConfig, choices: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The run config to log: the resolved config (no ``hydra`` node) plus ``choices``.

    Nested, as composed: W&B shows nested keys flattened (``optimizer.lr``,
    ``model.net.freeze``) in its table and filters, and ``wandb-workspaces`` addresses
    them as ``config.<dotted path>`` by default. ``choices`` holds the comparison keys of
    :func:`comparison_keys` under fixed names, whatever the model config looks like.
    """
    config = OmegaConf.to_container(cfg, resolve=True)
    if not isinstance(config, dict):
        raise TypeError(f"expected a mapping config, got {type(config).__name__}")
    config.pop("hydra", None)
    net = cfg.get("model", {}).get("net", {}) or {}
    config["choices"] = comparison_keys(
        cfg.get("study"), str(cfg.data.name), net.get("name"), choices
    )
    return config


# ----------------------------------------------------------------------------- callback
def find_wandb_logger(trainer: L.Trainer) -> Any | None:
    """The trainer's ``WandbLogger``, or None.

    Looked up in ``sys.modules``: a WandbLogger cannot exist unless Lightning's wandb
    logger module is loaded, and looking it up imports nothing (wandb itself is only
    imported when a W&B run starts).
    """
    module = sys.modules.get("lightning.pytorch.loggers.wandb")
    if module is None:
        return None
    return next((lg for lg in trainer.loggers if isinstance(lg, module.WandbLogger)), None)


def confusion_pairs(cm: np.ndarray) -> tuple[list[int], list[int]]:
    """(true, predicted) label pairs reproducing the counts of ``cm`` (rows true)."""
    true, pred = np.nonzero(cm)
    counts = cm[true, pred].astype(int)
    return np.repeat(true, counts).tolist(), np.repeat(pred, counts).tolist()


class WandbTestLogger(L.Callback):
    """At test end, log the confusion matrix, per-class table and gallery to W&B.

    The confusion matrix comes from the module's ``test_results`` when it has them (the
    metric synced across DDP ranks, the same counts as ``confusion_matrix.csv``); otherwise
    from the ``preds``/``labels`` of ``test_step``'s outputs collected here. The gallery is
    the ``misclassified.png`` that :class:`~sports_rec.callbacks.test_artefacts.
    TestArtefactWriter` wrote; list this callback after it.

    Args:
        output_dir: folder holding ``misclassified.png``; default: the artefact writer's.
        prefix: key prefix of the logged items (``<prefix>/confusion_matrix`` ...).
    """

    def __init__(self, output_dir: str | None = None, prefix: str = "test") -> None:
        self.output_dir = Path(output_dir) if output_dir else None
        self.prefix = prefix
        self._active = False
        self._preds: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        testing = getattr(pl_module, "test_prefix", "test") == "test"  # not evaluate split=...
        self._active = testing and trainer.is_global_zero and find_wandb_logger(trainer) is not None
        self._preds, self._labels = [], []

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._active and isinstance(outputs, Mapping) and "preds" in outputs:
            self._preds.append(outputs["preds"].detach().cpu())
            self._labels.append(outputs["labels"].detach().cpu())

    @rank_zero_only
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logger = find_wandb_logger(trainer)
        if logger is None or getattr(pl_module, "test_prefix", "test") != "test":
            return
        import wandb

        class_names = [str(c) for c in getattr(pl_module, "class_names", [])]
        results = getattr(pl_module, "test_results", {}) or {}
        payload: dict[str, Any] = {}
        pairs = self._label_pairs(results)
        if pairs is not None and class_names:
            payload[f"{self.prefix}/confusion_matrix"] = wandb.plot.confusion_matrix(
                y_true=pairs[0],
                preds=pairs[1],
                class_names=class_names,
                title=f"Confusion matrix ({self.prefix})",
            )
        if results and class_names:
            from sports_rec.reporting.per_run.artefacts import per_class_table

            table = per_class_table(results, class_names)
            payload[f"{self.prefix}/per_class"] = wandb.Table(dataframe=table)
        gallery = self._gallery(trainer)
        if gallery is not None:
            payload[f"{self.prefix}/misclassified"] = wandb.Image(
                str(gallery), caption="misclassified test images: true vs predicted"
            )
        if not payload:
            log.warning("Nothing to log to W&B at test end (no predictions, no artefacts)")
            return
        try:
            logger.experiment.log(payload)
        except Exception as error:  # W&B trouble must not cost the run its results
            log.warning("Could not log test artefacts to W&B (%s: %s)", type(error).__name__, error)

    def _label_pairs(self, results: Mapping[str, Any]) -> tuple[list[int], list[int]] | None:
        if "confusion_matrix" in results:
            return confusion_pairs(np.asarray(results["confusion_matrix"]))
        if self._preds:
            return torch.cat(self._labels).tolist(), torch.cat(self._preds).tolist()
        return None

    def _gallery(self, trainer: L.Trainer) -> Path | None:
        from sports_rec.callbacks.test_artefacts import TestArtefactWriter

        folders: Sequence[Path] = [self.output_dir] if self.output_dir else []
        if not folders:
            folders = [
                cb.output_dir for cb in trainer.callbacks if isinstance(cb, TestArtefactWriter)
            ]
        return next((f / GALLERY_FILE for f in folders if (f / GALLERY_FILE).is_file()), None)
