"""torchmetrics collections for classification, built once per stage.

Train/val/test log ``acc``, ``acc_top{k}`` (for every ``k`` below the class count) and
``mean_class_acc`` (macro accuracy: robust to class imbalance). The test stage also
computes per-class precision, recall and F1, their macro averages and the confusion
matrix, from which the artefact writer derives support.

Macro averages are torchmetrics' own (``average="macro"``): a class with no test sample
that is never predicted either is left out of the mean, where a plain mean of the
per-class values would count it as 0. ``per_class.csv`` marks such classes. The classifier
logs that plain mean too, labelled ``{precision,recall,f1}_mean_all_classes``: study 004's
"Mean Precision/Recall/F1" divide by all 17 classes although class 0 has no test clip
(its Mean Recall 60.87 % beside its Mean Class Accuracy 64.68 %, the mean over the present
classes), so a comparison with it needs that reading.
"""

from __future__ import annotations

from collections.abc import Sequence

from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)


def summary_metrics(num_classes: int, top_k: Sequence[int] = (3, 5)) -> MetricCollection:
    """Scalar metrics logged every epoch."""
    metrics = {
        "acc": MulticlassAccuracy(num_classes=num_classes, average="micro"),
        "mean_class_acc": MulticlassAccuracy(num_classes=num_classes, average="macro"),
    }
    for k in sorted(set(top_k)):
        if 1 < k < num_classes:
            metrics[f"acc_top{k}"] = MulticlassAccuracy(
                num_classes=num_classes, top_k=k, average="micro"
            )
    # compute_groups=False: members are logged one by one, and a grouped member that is
    # not its group's leader would not see the shared state when computed on its own.
    return MetricCollection(metrics, compute_groups=False)


def per_class_metrics(num_classes: int) -> MetricCollection:
    """Per-class metrics computed at test time (vectors, not logged as scalars)."""
    return MetricCollection(
        {
            "precision": MulticlassPrecision(num_classes=num_classes, average=None),
            "recall": MulticlassRecall(num_classes=num_classes, average=None),
            "f1": MulticlassF1Score(num_classes=num_classes, average=None),
            "precision_macro": MulticlassPrecision(num_classes=num_classes, average="macro"),
            "recall_macro": MulticlassRecall(num_classes=num_classes, average="macro"),
            "f1_macro": MulticlassF1Score(num_classes=num_classes, average="macro"),
            "confusion_matrix": MulticlassConfusionMatrix(num_classes=num_classes),
        },
        compute_groups=False,
    )
