"""Writers for a run's test artefacts; shared by ``train`` and ``evaluate``.

Files (all in the run folder):

* ``test_metrics.json``          - every ``test/*`` scalar plus the checkpoint evaluated;
* ``per_class.csv``              - precision, recall, F1, support and accuracy per class;
                                   ``no_support`` marks classes absent from the split;
* ``confusion_matrix.csv``       - counts, rows = true class, columns = predicted class;
* ``confusion_matrix.png``       - heatmap: colour the fraction of the true class, numbers
                                   the counts (when legible), class names on both axes;
* ``misclassified.png``          - gallery of misclassified test images (true vs predicted),
                                   chosen round-robin over the true classes, most confident
                                   errors first (:func:`choose_gallery`; the caption says so);
* ``misclassified.csv``          - the gallery's samples in its order (path, true, predicted,
                                   probability).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from sports_rec.data.io.image_io import ImageDecodeError, load_image
from sports_rec.utils.ordering import interleave

# Every file a training or evaluation run writes into its run folder (plots/ and
# checkpoints/ are folders of their own). A run checks them all before it trains.
RUN_FILES = (
    "run_info.json",
    "config_tree.log",
    "data_report.txt",
    "splits.csv",
    "clips.csv",
    "skipped_files.csv",
    "metrics.csv",
    "per_class_accuracy.csv",
    "weight_norms.csv",
    "test_metrics.json",
    "per_class.csv",
    "confusion_matrix.csv",
    "confusion_matrix.png",
    "misclassified.png",
    "misclassified.csv",
    "test_segments.csv",
    "test_predictions.csv",
)


def write_test_metrics(
    path: Path, metrics: Mapping[str, float], extra: Mapping | None = None
) -> dict:
    """Write the ``test/*`` scalars (sorted) plus ``extra`` fields to JSON; return them."""
    record = metrics_record(metrics, extra)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def metrics_record(metrics: Mapping[str, float], extra: Mapping | None = None) -> dict:
    """The ``test/*`` scalars (sorted) plus ``extra`` fields, as ``test_metrics.json`` holds."""
    record = {k: float(v) for k, v in sorted(metrics.items()) if k.startswith("test/")}
    if extra:
        record.update(extra)
    return record


def per_class_table(
    results: Mapping[str, torch.Tensor], class_names: Sequence[str]
) -> pd.DataFrame:
    """Per-class precision/recall/F1 with support and accuracy from the confusion matrix.

    ``no_support`` is True for classes with no sample in the evaluated split: their recall
    and accuracy are undefined (written as 0, as torchmetrics reports them).
    """
    cm = results["confusion_matrix"].numpy()
    support = cm.sum(axis=1)
    correct = np.diag(cm)
    return pd.DataFrame(
        {
            "class_id": range(len(class_names)),
            "class_name": list(class_names),
            "precision": results["precision"].numpy(),
            "recall": results["recall"].numpy(),
            "f1": results["f1"].numpy(),
            "support": support.astype(int),
            "accuracy": np.divide(correct, support, out=np.zeros(len(cm)), where=support > 0),
            "no_support": support == 0,
        }
    )


def write_confusion_matrix(out_dir: str | Path, cm: np.ndarray, class_names: Sequence[str]) -> None:
    """CSV of counts and a PNG heatmap (row-normalised, counts annotated when legible)."""
    frame = pd.DataFrame(cm.astype(int), index=list(class_names), columns=list(class_names))
    frame.index.name = "true \\ predicted"
    out_dir = Path(out_dir)
    frame.to_csv(out_dir / "confusion_matrix.csv")

    n = len(class_names)
    rows = cm.sum(axis=1, keepdims=True)
    normalised = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    side = min(40.0, max(6.0, 0.28 * n + 3))
    fig, ax = plt.subplots(figsize=(side, side * 0.9))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    fontsize = max(4, min(10, int(240 / max(n, 1))))
    ax.set_xticks(range(n), labels=list(class_names), rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), labels=list(class_names), fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    colour = "white" if normalised[i, j] > 0.5 else "black"
                    ax.text(
                        j,
                        i,
                        int(cm[i, j]),
                        ha="center",
                        va="center",
                        fontsize=fontsize,
                        color=colour,
                    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_title(
        "Confusion matrix\ncolour: fraction of the true class; numbers: counts", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(out_dir / "confusion_matrix.png", dpi=120)
    plt.close(fig)


#: How the gallery picks its samples from every misclassified test sample.
GALLERY_ORDERS = ("classes", "first")


def choose_gallery(
    misclassified: Sequence[Mapping], size: int, order: str = "classes"
) -> list[Mapping]:
    """The ``size`` misclassified samples a gallery shows, in the order it shows them.

    ``classes`` (default): round-robin over the true classes (classes with more errors
    first, ties by class id), each class's most confident errors first, so a test set
    sorted by class does not fill the gallery with its first class. ``first``: the first
    ``size`` in test order (the old behaviour).
    """
    if order not in GALLERY_ORDERS:
        raise ValueError(f"gallery order must be one of {GALLERY_ORDERS}, got {order!r}")
    if order == "first":
        return list(misclassified)[:size]
    by_class: dict[int, list[Mapping]] = {}
    for sample in misclassified:
        by_class.setdefault(int(sample["true"]), []).append(sample)
    queues = [
        sorted(samples, key=lambda s: -float(s["confidence"]))
        for _, samples in sorted(by_class.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    return interleave(queues)[:size]


def gallery_caption(order: str, shown: int, total: int, classes: int) -> str:
    """What the gallery shows and how its samples were chosen."""
    if order == "first":
        return f"first {shown} of {total} misclassified, in test order"
    return (
        f"{shown} of {total} misclassified: round-robin over {classes} true classes, "
        "most confident errors first"
    )


def write_gallery_list(path: Path, samples: Sequence[Mapping], class_names: Sequence[str]) -> None:
    """``misclassified.csv``: the gallery's samples in gallery order (path, true, predicted,
    probability of the prediction), so a reader or a test sees which were picked."""
    rows = [
        {
            "path": sample.get("path", ""),
            "true": class_names[int(sample["true"])],
            "predicted": class_names[int(sample["pred"])],
            "probability": round(float(sample["confidence"]), 4),
        }
        for sample in samples
    ]
    pd.DataFrame(rows, columns=["path", "true", "predicted", "probability"]).to_csv(
        path, index=False
    )


def write_misclassified_gallery(
    path: Path,
    samples: Sequence[Mapping],
    class_names: Sequence[str],
    max_images: int = 32,
    unit: str = "image",
    caption: str = "",
) -> int:
    """Grid of misclassified samples; each has ``true``, ``pred``, ``confidence`` and either
    ``image`` (a PIL image: what a dataset's ``preview`` shows, e.g. a clip's middle frame)
    or ``path`` (an image file). Returns the number drawn (0 writes no file)."""
    samples = list(samples)[:max_images]
    if not samples:
        return 0
    cols = min(8, len(samples))
    rows = math.ceil(len(samples) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, sample in zip(axes.flat, samples, strict=False):
        try:
            image = sample.get("image")
            ax.imshow(image if image is not None else load_image(sample["path"], max_side=160))
        except ImageDecodeError:
            ax.text(0.5, 0.5, "unreadable", ha="center", va="center")
        ax.set_title(
            f"true: {class_names[sample['true']]}\npred: {class_names[sample['pred']]}"
            f" ({sample['confidence']:.2f})",
            fontsize=7,
        )
    fig.suptitle(f"Misclassified test {unit}s" + (f"\n{caption}" if caption else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return len(samples)


def write_per_class_table(
    out_dir: str | Path, results: Mapping[str, torch.Tensor], class_names: Sequence[str]
) -> Path:
    """``per_class.csv`` in ``out_dir``; returns its path."""
    path = Path(out_dir) / "per_class.csv"
    per_class_table(results, class_names).to_csv(path, index=False)
    return path
