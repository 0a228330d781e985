"""Per-layer weight norms over training (study 000's Figs 2, 5 and 7): ``weight_norms.csv``.

Study 000 discusses its models through the L1 and L2 norms of their weights ("significant
variations in L1 norms, in later layers"; "the L1 and L2 norm show a steady decline over
epochs"; "norm in dense layers") without defining them. Here, for every weight tensor of the
net (parameters with 2 or more dimensions: convolution and linear weights, embeddings; not
biases or norm scales, which the elastic-net penalty skips too):

* ``l1`` = sum |w|  (the quantity eq. (4) penalises),
* ``l2`` = sqrt(sum w^2)  (the Euclidean norm; eq. (3) penalises its square),

recorded before training (epoch -1) and after every training epoch, one row per
``(epoch, layer)`` with the layer's ``numel`` and whether it belongs to the classifier head
(``head``). At the end of fitting, ``plots/weight_norms_layers.png`` (per layer, before
training and first/last epoch), ``plots/weight_norms_head.png`` (head layers over epochs)
and ``plots/weight_norms_total.png`` (all weights over epochs) are drawn.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pandas as pd
import torch
import torch.nn as nn
from lightning.pytorch.utilities import rank_zero_only

from sports_rec.reporting.per_run.curves import plot_weight_norms
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

COLUMNS = ["epoch", "layer", "numel", "l1", "l2", "head"]


def weight_norms(net: nn.Module) -> list[dict[str, object]]:
    """One row per weight tensor of ``net``: layer name, numel, L1, L2, head membership."""
    head = net.get_classifier() if hasattr(net, "get_classifier") else None
    head_ids = {id(p) for p in head.parameters()} if isinstance(head, nn.Module) else set()
    rows = []
    with torch.no_grad():
        for name, param in net.named_parameters():
            if param.ndim < 2:
                continue
            weights = param.detach().float()
            rows.append(
                {
                    "layer": name.removesuffix(".weight"),
                    "numel": int(weights.numel()),
                    "l1": float(weights.abs().sum()),
                    "l2": float(weights.pow(2).sum().sqrt()),
                    "head": id(param) in head_ids,
                }
            )
    return rows


class WeightNormTracker(L.Callback):
    """Write ``<output_dir>/weight_norms.csv`` (and plots) for the LightningModule's ``net``."""

    def __init__(self, output_dir: str, plots: bool = True) -> None:
        self.path = Path(output_dir) / "weight_norms.csv"
        self.plots = plots
        self.rows: list[dict[str, object]] = []

    def _record(self, pl_module: L.LightningModule, epoch: int) -> None:
        net = getattr(pl_module, "net", pl_module)
        self.rows = [r for r in self.rows if r["epoch"] != epoch]  # a replayed epoch end
        self.rows += [{"epoch": epoch, **row} for row in weight_norms(net)]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(self.rows, columns=COLUMNS).to_csv(self.path, index=False)

    @rank_zero_only
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.ckpt_path:  # a resumed run's weights are not "before training"
            self._record(pl_module, -1)

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._record(pl_module, trainer.current_epoch)

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self.plots and self.path.is_file()):
            return
        try:
            plot_weight_norms(self.path, self.path.parent / "plots")
        except Exception as error:  # optional artefact: never lose the run over a plot
            log.warning("Could not draw the weight norms (%s: %s)", type(error).__name__, error)
