"""Rebuilding a trained classifier from its checkpoint alone.

A sports_rec checkpoint carries the net/loss/optimizer configs and ``metadata`` (class
names and counts, input channels and size, data and transform configs) in
``hyper_parameters``; nothing else is needed to evaluate, predict, explain or export.
Weights come from the checkpoint, so ``pretrained``/``weights`` are switched off when the
net is rebuilt: evaluating offline never tries to download anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sports_rec.errors import SportsRecError
from sports_rec.models.classifier import Classifier


class CheckpointError(SportsRecError, ValueError):
    """The file is missing or is not a sports_rec checkpoint."""


class CheckpointDataMismatch(SportsRecError, ValueError):
    """The data given to a checkpoint has other classes than it was trained on."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file (trusted local file: full unpickling) on the CPU."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: '{path}'. Runs keep theirs in <run folder>/checkpoints/ "
            "(last.ckpt, best-val-acc-*.ckpt, best-val-loss-*.ckpt)."
        )
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    hparams = checkpoint.get("hyper_parameters", {}) if isinstance(checkpoint, dict) else {}
    if "metadata" not in hparams or "net" not in hparams:
        raise CheckpointError(
            f"'{path}' is not a sports_rec checkpoint (no net config or metadata in its "
            "hyper_parameters); it cannot be used without its training code."
        )
    return checkpoint


def load_classifier(path: str | Path) -> Classifier:
    """Rebuild the :class:`Classifier` stored at ``path`` (eval mode, CPU)."""
    checkpoint = read_checkpoint(path)
    hparams = dict(checkpoint["hyper_parameters"])
    net = dict(hparams["net"])
    if "pretrained" in net:
        net["pretrained"] = False
    if "weights" in net:
        net["weights"] = None
    hparams["net"] = net
    model = Classifier(**hparams)
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def check_same_classes(model: Classifier, class_names: list[str], source: str) -> None:
    """Refuse data whose class vocabulary differs from the checkpoint's."""
    trained = list(model.class_names)
    if trained == list(class_names):
        return
    missing = [c for c in trained if c not in class_names][:5]
    extra = [c for c in class_names if c not in trained][:5]
    dataset = model.hparams.metadata.get("dataset", "?")
    raise CheckpointDataMismatch(
        f"the checkpoint was trained on '{dataset}' with {len(trained)} classes, but {source} "
        f"has {len(class_names)} classes (absent here: {missing}; unknown to the checkpoint: "
        f"{extra}). Point data.root at the dataset the checkpoint was trained on."
    )
