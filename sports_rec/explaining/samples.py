"""Which samples ``explain`` explains, and the attribution of each (drawn by its modality).

:func:`choose_samples` predicts the split in batches until ``num_samples`` pass the filters
(misclassified only, one true class); :func:`explain_samples` attributes them in batches
(:mod:`sports_rec.explaining.attribution`) and hands each to the checkpoint's modality to
draw (an image panel, GradCAM videos ...), collecting the rows of ``explanations.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Subset

from sports_rec.errors import ConfigError, SportsRecError
from sports_rec.explaining.attribution import attribute
from sports_rec.explaining.panels import class_list, display_stats, slug
from sports_rec.modalities.base import ExplainedSample, Modality
from sports_rec.models.classifier import Classifier
from sports_rec.models.metadata import CheckpointMetadata
from sports_rec.utils.ordering import interleave

CSV_COLUMNS = [
    "index",
    "path",
    "start_frame",
    "true",
    "pred",
    "prob",
    "method",
    "target",
    "keypoint_share",
    "delta",
    "layer",
    "file",
]


class NoSampleToExplain(SportsRecError, ValueError):
    """The filters left no sample of the split."""


def _batch_inputs(model: Classifier, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {key: batch[key].to(model.device).float() for key in model.input_keys}


#: The order samples are tried in: round-robin over the true classes, or the split's own.
SAMPLE_ORDERS = ("classes", "first")


def class_round_robin(labels: list[int]) -> list[int]:
    """Dataset indices taking one sample of each true class in turn (each class's in split
    order), so a split sorted by class does not give N samples of its first class."""
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(index)
    return interleave([by_class[c] for c in sorted(by_class)])


def choose_samples(
    model: Classifier,
    dataset: Any,
    num_samples: int,
    misclassified_only: bool,
    class_id: int | None,
    batch_size: int,
    order: str = "classes",
) -> pd.DataFrame:
    """``index, true, pred, prob`` of the first ``num_samples`` samples passing the filters,
    tried round-robin over the true classes (``order=classes``, from the dataset's labels,
    no prediction needed) or in the split's order (``first``), predicted in batches until
    enough are found."""
    if order not in SAMPLE_ORDERS:
        raise ConfigError(f"order must be one of {SAMPLE_ORDERS}, got {order!r}")
    if order == "classes" and class_id is None:
        dataset = Subset(dataset, class_round_robin(list(dataset.labels)))
    loader = DataLoader(dataset, batch_size=max(1, batch_size))
    chosen: list[dict[str, Any]] = []
    with torch.inference_mode():
        for batch in loader:
            probs = model(_batch_inputs(model, batch)).float().softmax(dim=1)
            prob, pred = probs.max(dim=1)
            for i, index in enumerate(batch["index"].tolist()):
                true = int(batch["label"][i])
                if misclassified_only and int(pred[i]) == true:
                    continue
                if class_id is not None and true != class_id:
                    continue
                chosen.append(
                    {
                        "index": index,
                        "true": true,
                        "pred": int(pred[i]),
                        "prob": float(prob[i]),
                        "probs": probs[i].cpu().numpy(),
                    }
                )
                if len(chosen) >= num_samples:
                    return pd.DataFrame(chosen)
    return pd.DataFrame(chosen, columns=["index", "true", "pred", "prob", "probs"])


def class_id_of(names: list[str], class_name: str | None) -> int | None:
    if class_name is None:
        return None
    if str(class_name) not in names:
        raise ConfigError(
            f"class_name={class_name!r} is not a class of this checkpoint; its classes are "
            f"{class_list(names, limit=200)}"
        )
    return names.index(str(class_name))


def explain_samples(
    cfg: DictConfig,
    model: Classifier,
    dataset: Any,
    chosen: pd.DataFrame,
    method: str,
    modality: Modality,
) -> list[dict[str, Any]]:
    """Attribute the chosen samples in batches; the modality draws each one."""
    names = list(model.class_names)
    metadata = CheckpointMetadata.of(model)
    display = display_stats(metadata.eval_transform, metadata.channels)
    out = Path(cfg.paths.output_dir) / "explanations"
    rows: list[dict[str, Any]] = []
    step = max(1, int(cfg.batch_size))
    for first in range(0, len(chosen), step):
        part = chosen.iloc[first : first + step]
        batch = next(iter(DataLoader(Subset(dataset, part["index"].tolist()), batch_size=step)))
        inputs = _batch_inputs(model, batch)
        targets = torch.tensor(part["true" if cfg.target == "label" else "pred"].tolist())
        result = attribute(
            model.net,
            inputs,
            model.input_keys,
            targets,
            method,
            layer=cfg.get("layer"),
            steps=int(cfg.steps),
        )
        for k, sample in enumerate(part.to_dict("records")):
            true, pred = names[sample["true"]], names[sample["pred"]]
            share = None if result.keypoint_share is None else float(result.keypoint_share[k])
            row = {
                "index": sample["index"],
                "path": dataset.paths[sample["index"]],
                "true": true,
                "pred": pred,
                "prob": sample["prob"],
                "method": method,
                "target": names[int(targets[k])],
                "keypoint_share": share,
                "delta": None if result.delta is None else float(result.delta[k]),
                "layer": result.layer,
            }
            item = ExplainedSample(
                folder=out,
                stem=f"{first + k:03d}_{slug(true)}_as_{slug(pred)}",
                inputs={key: tensor[k] for key, tensor in inputs.items()},
                attribution=result.maps[k],
                joints=None if result.joints is None else result.joints[k],
                keypoint_share=share,
                row=row,
                probs=sample["probs"],
                true_id=int(sample["true"]),
                display=display,
                class_names=names,
                dataset=dataset,
                cfg=cfg,
            )
            rows.append({**row, **modality.draw_explanation(item)})
    return rows
