"""The classifier LightningModule shared by every study.

It receives *configs* (plain dicts) for the net, the loss, the optimizer and the scheduler,
and builds them itself. That keeps the whole recipe in ``hparams`` so a checkpoint alone
rebuilds the model for evaluate/predict/export, together with ``metadata``: class
names and counts, input channels and size, and the data and transform configs.

Batches are dicts. The net declares which entries it consumes via ``input_keys`` (default
``("image",)``); fusion nets take ``("image", "keypoints")`` and video nets ``("video",)``,
so no modality needs its own training loop.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn as nn
from hydra.utils import instantiate
from timm.optim import param_groups_weight_decay
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassConfusionMatrix

from sports_rec.models.fast_paths import (
    channels_last_format,
    compiled_forward,
    resolve_fused,
    to_memory_format,
)
from sports_rec.models.inputs import example_inputs, input_sizes
from sports_rec.models.metadata import CheckpointMetadata
from sports_rec.models.metrics import per_class_metrics, summary_metrics

STAGES = ("train", "val", "test")


class Classifier(L.LightningModule):
    """Single-label classifier over dict batches.

    Args:
        net: Hydra config of the network (``num_classes``/``in_chans`` are filled in).
        loss: Hydra config of the criterion (``class_counts`` is filled in).
        optimizer: Hydra ``_partial_`` config of the optimizer.
        scheduler: ``{"scheduler": partial config | None, "interval", "monitor", ...}``.
        metadata: class names/counts, channels, image size, data and transform configs, and
            ``input_spec`` (every input's name, shape and dtype; see
            :mod:`sports_rec.models.inputs`). A net config may list ``extra_inputs`` (names,
            e.g. ``[keypoints]``); their sizes are taken from the spec.
        top_k: top-k accuracies to report.
        regularization: ``{"l1": λ1, "l2": λ2}`` elastic-net penalty added to the loss
            (seed 000); 0 disables it. Optimizer ``weight_decay`` is the usual L2 route.
        fast_paths: ``{"channels_last": auto|true|false, "compile": bool}`` (``model.*``;
            see :mod:`sports_rec.models.fast_paths`).
    """

    def __init__(
        self,
        net: dict[str, Any],
        loss: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None,
        metadata: dict[str, Any],
        top_k: tuple[int, ...] = (3, 5),
        regularization: dict[str, float] | None = None,
        fast_paths: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        # In the checkpoint, not in the loggers: train logs the whole run config itself.
        self.save_hyperparameters(logger=False)
        stored = CheckpointMetadata.from_dict(metadata)
        self.class_names: list[str] = stored.class_names
        num_classes = len(self.class_names)
        self.input_spec = stored.input_spec
        first = self.input_spec[0]
        if net.get("extra_inputs"):  # names; their sizes come from the data's input spec
            net = {**net, "extra_inputs": input_sizes(self.input_spec, list(net["extra_inputs"]))}
        self.net: nn.Module = instantiate(
            net, num_classes=num_classes, in_chans=int(first["shape"][0])
        )
        self.criterion: nn.Module = instantiate(loss, class_counts=stored.class_counts)
        self.input_keys: tuple[str, ...] = tuple(getattr(self.net, "input_keys", ("image",)))
        # one sample of every input: Lightning's model summary counts the FLOPs with it
        # (without one it prints "Total FLOPs: 0")
        example = example_inputs(self.input_spec, self.input_keys, 1, torch.Generator())
        self.example_input_array = (dict(zip(self.input_keys, example, strict=True)),)
        fast = dict(fast_paths or {})
        self.memory_format = channels_last_format(
            self.net, fast.get("channels_last", False), self.input_spec
        )
        if self.memory_format is not None:
            self.net.to(memory_format=self.memory_format)
        self._forward = compiled_forward(self.net, bool(fast.get("compile", False)))
        self.l1 = float((regularization or {}).get("l1", 0.0))
        self.l2 = float((regularization or {}).get("l2", 0.0))
        # ModuleDict keys may not shadow nn.Module attributes such as ``train``.
        self.metrics = nn.ModuleDict(
            {f"{stage}_": summary_metrics(num_classes, top_k) for stage in STAGES}
        )
        self.losses = nn.ModuleDict({f"{stage}_": MeanMetric() for stage in STAGES})
        # Confusion matrices of every training and validation epoch, read (and reset) by
        # the per-class accuracy callback: per-class accuracy over epochs (study 004).
        self.epoch_confusion = nn.ModuleDict(
            {f"{stage}_": MulticlassConfusionMatrix(num_classes) for stage in ("train", "val")}
        )
        self.test_details = per_class_metrics(num_classes)
        self.test_results: dict[str, torch.Tensor] = {}
        # The epoch whose end the current weights are from (None: not trained yet); recorded
        # in test_metrics.json, so a report knows which epoch a test figure belongs to.
        self.weights_epoch: int | None = None
        # The name the test stage logs under: "test", or the split being evaluated instead
        # ("train", "val": evaluate split=..., a baseline evaluated without training).
        self.test_prefix = "test"

    # --------------------------------------------------------------------- forward
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        missing = [k for k in self.input_keys if k not in batch]
        if missing:
            raise KeyError(f"batch lacks {missing}; this net consumes {list(self.input_keys)}")
        inputs = [batch[k] for k in self.input_keys]
        if self.memory_format is not None:
            inputs = [to_memory_format(x, self.memory_format) for x in inputs]
        return (self._forward or self.net)(*inputs)

    def penalty(self) -> torch.Tensor:
        """Elastic-net term ``l1 * sum|w| + l2 * sum w^2`` over trainable weights."""
        total = torch.zeros((), device=self.device)
        for param in self.net.parameters():
            if param.requires_grad and param.ndim > 1:  # weights, not biases/norm scales
                if self.l1:
                    total = total + self.l1 * param.abs().sum()
                if self.l2:
                    total = total + self.l2 * param.pow(2).sum()
        return total

    def _shared_step(self, batch: dict[str, torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
        logits = self(batch).float()  # bf16 under mixed precision: loss and metrics in fp32
        labels = batch["label"]
        loss = self.criterion(logits, labels)
        mean_loss, metrics = self.losses[f"{stage}_"], self.metrics[f"{stage}_"]
        mean_loss.update(loss.detach(), weight=labels.shape[0])
        metrics.update(logits.detach(), labels)
        if f"{stage}_" in self.epoch_confusion:
            self.epoch_confusion[f"{stage}_"].update(logits.detach(), labels)
        name = self.test_prefix if stage == "test" else stage
        self.log(
            f"{name}/loss",
            mean_loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=labels.shape[0],
        )
        self.log_dict(
            {f"{name}/{k}": m for k, m in metrics.items()},
            on_step=False,
            on_epoch=True,
            prog_bar=False,
            batch_size=labels.shape[0],
        )
        return {"loss": loss, "logits": logits.detach(), "labels": labels}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        out = self._shared_step(batch, "train")
        loss = out["loss"]
        if self.l1 or self.l2:
            penalty = self.penalty()
            self.log(
                "train/penalty",
                penalty,
                on_step=False,
                on_epoch=True,
                batch_size=batch["label"].shape[0],
            )
            loss = loss + penalty
        return loss

    def validation_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int
    ) -> dict[str, torch.Tensor]:
        # The logits go to the callbacks: with validation = test, the last pass's are the
        # test's (sports_rec/callbacks/validation_replay.py replays them).
        return self._shared_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        out = self._shared_step(batch, "test")
        self.test_details.update(out["logits"], out["labels"])
        probs = out["logits"].float().softmax(dim=1)
        confidence, preds = probs.max(dim=1)
        return {
            "probs": probs,
            "preds": preds,
            "confidence": confidence,
            "labels": out["labels"],
            "index": batch["index"],
        }

    def on_train_epoch_end(self) -> None:
        self.weights_epoch = int(self.current_epoch)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "epoch" in checkpoint:
            self.weights_epoch = int(checkpoint["epoch"])

    def on_test_epoch_start(self) -> None:
        self.test_details.reset()
        self.test_results = {}

    def on_test_epoch_end(self) -> None:
        # compute() gathers the states of every DDP rank, so the results are already global.
        self.test_results = {k: v.detach().cpu() for k, v in self.test_details.compute().items()}
        for name in ("precision", "recall", "f1"):
            self.log(
                f"{self.test_prefix}/{name}_macro",
                self.test_results[f"{name}_macro"],
                sync_dist=False,
            )
            # The mean over *all* classes, a class without test samples (and never
            # predicted) counting as 0: how study 004 averages ("Mean Precision" etc.).
            self.log(
                f"{self.test_prefix}/{name}_mean_all_classes",
                self.test_results[name].float().mean(),
                sync_dist=False,
            )

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self(batch).float().softmax(dim=1)

    # --------------------------------------------------------------------- optimisation
    def parameter_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Trainable parameters split by timm: weight decay on weights only.

        Biases, norm scales and shifts (every 1-d parameter) and what the net lists in
        ``no_weight_decay()`` (ViT's position embedding and class token) are not decayed:
        decaying them shrinks normalisation towards zero instead of regularising.
        """
        no_decay = getattr(self.net, "no_weight_decay", None)
        names = set(no_decay()) if callable(no_decay) else set()
        return param_groups_weight_decay(self.net, weight_decay, no_weight_decay_list=names)

    def configure_optimizers(self) -> Any:
        weight_decay = float(self.hparams.optimizer.get("weight_decay") or 0.0)
        # Resolved here, not in __init__: only now are the parameters on their device.
        trainer = self._trainer  # None outside a Trainer
        clips_mixed = bool(
            trainer is not None and trainer.gradient_clip_val and "mixed" in str(trainer.precision)
        )
        optimizer_cfg = resolve_fused(self.hparams.optimizer, self.device, clips_mixed)
        optimizer = instantiate(optimizer_cfg)(params=self.parameter_groups(weight_decay))
        sched_cfg = self.hparams.scheduler or {}
        if not sched_cfg.get("scheduler"):
            return optimizer
        scheduler = instantiate(sched_cfg["scheduler"])(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "interval": sched_cfg.get("interval", "epoch"),
                "frequency": sched_cfg.get("frequency", 1),
                "monitor": sched_cfg.get("monitor", "val/loss"),
            },
        }
