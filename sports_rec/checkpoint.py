"""Rebuilding a trained classifier from its checkpoint alone, safely.

A sports_rec checkpoint carries the net/loss/optimizer configs and ``metadata`` (class
names and counts, input channels and size, data and transform configs) in
``hyper_parameters``; nothing else is needed to evaluate, predict or export.
Weights come from the checkpoint, so ``pretrained``/``weights`` are switched off when the
net is rebuilt: evaluating offline never tries to download anything.

Checkpoints hold only tensors and plain Python types, and are read with
``torch.load(weights_only=True)``: a checkpoint from someone else cannot run code on this
machine. One whose pickle asks for anything else is refused with a message, not executed.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from sports_rec.errors import SportsRecError
from sports_rec.models.classifier import Classifier
from sports_rec.utils.config_moves import MOVED_IMAGE_OPTIONS
from sports_rec.utils.resolvers import IMAGE_DATASETS


class CheckpointError(SportsRecError, ValueError):
    """The file is missing or is not a sports_rec checkpoint."""


class CheckpointDataMismatch(SportsRecError, ValueError):
    """The data given to a checkpoint has other classes than it was trained on."""


def load_checkpoint_file(path: str | Path) -> Any:
    """``torch.load`` a checkpoint on the CPU with ``weights_only=True``, or explain why not.

    Used by evaluate, predict and export; resuming goes through Lightning with the
    same ``weights_only=True``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: '{path}'. Runs keep theirs in <run folder>/checkpoints/ "
            "(last.ckpt, best-val-acc-*.ckpt, best-val-loss-*.ckpt)."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        global_name = unsafe_global(error)
        if global_name:
            raise CheckpointError(
                f"refusing to load '{path}': it asks to run Python code to create "
                f"{global_name} (and maybe more), not just tensors and plain types, so it was "
                "not loaded (sports_rec checkpoints never do). Only if the file comes from a "
                "source you trust, convert it to a safe checkpoint with: python -m "
                f"sports_rec.convert_checkpoint '{path}' '{path.with_suffix('.safe.ckpt')}' "
                "--trust-source"
            ) from None
        raise _unreadable(path, error) from error
    except Exception as error:  # torch's parser fails on garbage in many ways (IndexError...)
        raise _unreadable(path, error) from error


# torch words a refused global differently by version and by why it refuses it:
# "Unsupported global: GLOBAL __main__.Obj was not an allowed global by default" and
# "Trying to load unsupported GLOBAL posix.system whose module posix is blocked".
_UNSAFE_GLOBAL = re.compile(r"unsupported global:?\s+(?:GLOBAL\s+)?([\w.]+)", re.IGNORECASE)


def unsafe_global(error: BaseException) -> str | None:
    """The first Python object a refused pickle asked for (``posix.system``), if named."""
    found = _UNSAFE_GLOBAL.search(str(error))
    return found.group(1) if found else None


def _unreadable(path: Path, error: BaseException) -> CheckpointError:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # torch's weights-only errors bury the cause ("Unsupported operand 110") in a long text.
    cause = next((line for line in lines if line.startswith("Unsupported")), None)
    cause = cause or (lines[0] if lines else "no message")
    return CheckpointError(
        f"'{path}' is not a readable checkpoint file ({type(error).__name__}: "
        f"{cause}). Is it truncated (a run killed while "
        "saving) or another kind of file? Use <run folder>/checkpoints/last.ckpt or a "
        "best-*.ckpt of a finished epoch."
    )


# ``_target_``s that moved since checkpoints were written with them: a checkpoint stores
# its data and transform configs, and an old one must still build its dataset.
RENAMED_TARGETS = {
    "sports_rec.data.video_dataset.VideoClipDataset": "sports_rec.data.datasets.VideoClipDataset",
}


def renamed_targets(node: Any) -> Any:
    """``node`` (plain containers) with every moved ``_target_`` replaced by its new name."""
    if isinstance(node, dict):
        node = {key: renamed_targets(value) for key, value in node.items()}
        target = node.get("_target_")
        if isinstance(target, str) and target in RENAMED_TARGETS:
            node["_target_"] = RENAMED_TARGETS[target]
        return node
    if isinstance(node, list):
        return [renamed_targets(value) for value in node]
    return node


def upgraded_data_config(data: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's stored data config in today's shape: the image options moved into
    its ``dataset`` node (created as the image dataset for checkpoints older than the node;
    dropped for a video dataset, which never read them)."""
    data = dict(data)
    moved = {key: data.pop(key) for key in MOVED_IMAGE_OPTIONS if key in data}
    if not moved:
        return data
    dataset = dict(data.get("dataset") or {})
    if not dataset:
        dataset = {"_target_": IMAGE_DATASETS[False], "_partial_": True}
        dataset["image_size"] = data.get("image_size", 224)
    if "Video" not in str(dataset.get("_target_", "")):
        for key, value in moved.items():
            dataset.setdefault(key, value)
    data["dataset"] = dataset
    return data


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a sports_rec checkpoint (safe loading, CPU) and check it is one."""
    checkpoint = load_checkpoint_file(path)
    hparams = checkpoint.get("hyper_parameters", {}) if isinstance(checkpoint, dict) else {}
    if "metadata" not in hparams or "net" not in hparams:
        raise CheckpointError(
            f"'{path}' is not a sports_rec checkpoint (no net config or metadata in its "
            "hyper_parameters); it cannot be used without its training code."
        )
    hparams = renamed_targets(dict(hparams))
    metadata = dict(hparams["metadata"])
    if isinstance(metadata.get("data"), dict):
        metadata["data"] = upgraded_data_config(metadata["data"])
    hparams["metadata"] = metadata
    checkpoint["hyper_parameters"] = hparams
    return checkpoint


def load_classifier_metadata(path: str | Path) -> dict[str, Any]:
    """The ``hyper_parameters`` of a sports_rec checkpoint (configs and data metadata)."""
    return dict(read_checkpoint(path)["hyper_parameters"])


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
    model.on_load_checkpoint(checkpoint)
    return model.eval()


def check_same_classes(
    trained: Sequence[str], class_names: Sequence[str], source: str, dataset: str = "?"
) -> None:
    """Refuse data whose class vocabulary differs from the checkpoint's (``trained``)."""
    trained = list(trained)
    if trained == list(class_names):
        return
    missing = [c for c in trained if c not in class_names][:5]
    extra = [c for c in class_names if c not in trained][:5]
    raise CheckpointDataMismatch(
        f"the checkpoint was trained on '{dataset}' with {len(trained)} classes, but {source} "
        f"has {len(class_names)} classes (absent here: {missing}; unknown to the checkpoint: "
        f"{extra}). Point data.root at the dataset the checkpoint was trained on."
    )
