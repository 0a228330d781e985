"""Explain a checkpoint's predictions: ``python -m sports_rec.explain ckpt_path=PATH
[method=saliency|gradcam|gradcam++|integrated_gradients] [split=test] [num_samples=16]
[misclassified_only=true] [class_name=NAME]``.

The split is rebuilt from the checkpoint alone (as ``evaluate`` does; the training split
with the evaluation transform). The first ``num_samples`` samples in the split's order that
pass the filters are explained (:mod:`sports_rec.explaining.attribution`), each for its
predicted class (``target=label``: its true class). Written into the run folder:

* image models - ``explanations/<n>_<true>_as_<pred>.png`` panels (input, map, overlay, and
  for keypoint nets the skeleton with each joint's share);
* clip models - ``explanations/<n>_<true>_as_<pred>/`` with the GradCAM videos and
  ``metadata.txt`` (:mod:`sports_rec.explaining.video`); ``long_sample.enabled=true`` adds
  ``explanations/long_<video>_<start>/``, a stretch of one video whose map and
  probabilities follow the clip covering each frame;
* ``explanations.csv`` - one row per sample: ``index, path, true, pred, prob, method,
  target, keypoint_share, delta, layer, file`` (+ ``start_frame`` for clips).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
from omegaconf import DictConfig

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.builders import checkpoint_datamodule
from sports_rec.checkpoint import check_same_classes, load_classifier
from sports_rec.errors import ConfigError
from sports_rec.explaining.attribution import check_method
from sports_rec.explaining.recipe import apply_recipe_settings
from sports_rec.explaining.samples import (
    CSV_COLUMNS,
    NoSampleToExplain,
    choose_samples,
    class_id_of,
    explain_samples,
)
from sports_rec.modalities import modality_for
from sports_rec.models.metadata import CheckpointMetadata
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.config_checks import check_explain_config, required_checkpoint
from sports_rec.utils.run import exit_on_user_error, lightning_noise_filtered, task_wrapper


@task_wrapper
def explain(cfg: DictConfig) -> dict[str, Any]:
    """Explain ``cfg.num_samples`` samples of ``cfg.split`` (see the module docstring)."""
    check_explain_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    model = load_classifier(required_checkpoint(cfg, "explain"))
    model.eval()
    apply_recipe_settings(cfg)  # the run recipe's explain: values the command line omits
    metadata = CheckpointMetadata.of(model)
    modality = modality_for(model.input_keys)
    method = check_method(str(cfg.method or modality.default_explain_method))
    if cfg.target not in ("pred", "label"):
        raise ConfigError(
            f"target must be pred (the predicted class) or label (the true class), got "
            f"{cfg.target!r}"
        )
    names = list(model.class_names)
    class_id = class_id_of(names, cfg.get("class_name"))
    datamodule = checkpoint_datamodule(metadata, cfg.get("data"), cfg.paths.output_dir)
    with lightning_noise_filtered():
        datamodule.prepare_data()
        datamodule.setup()
    check_same_classes(
        names,
        datamodule.class_names,
        f"the data at '{datamodule.root}'",
        dataset=metadata.dataset,
    )
    dataset = datamodule.eval_dataloader(str(cfg.split)).dataset
    out = Path(cfg.paths.output_dir)
    result: dict[str, Any] = {"method": method, "output": str(out / "explanations.csv")}
    if cfg.long_sample.enabled:
        result["long_sample"] = str(modality.explain_long_sample(cfg, model, dataset, method))
    chosen = choose_samples(
        model,
        dataset,
        int(cfg.num_samples),
        bool(cfg.misclassified_only),
        class_id,
        int(cfg.batch_size),
        order=str(cfg.get("order", "classes")),
    )
    if chosen.empty and not result.get("long_sample"):
        filters = [
            f
            for f, on in (
                ("misclassified_only", cfg.misclassified_only),
                (f"class_name={cfg.class_name}", class_id is not None),
            )
            if on
        ]
        raise NoSampleToExplain(
            f"no sample of the {cfg.split} split ({len(dataset)} samples) passes "
            f"{' and '.join(filters) or 'the filters'}; loosen them or choose another split"
        )
    rows = explain_samples(cfg, model, dataset, chosen, method, modality) if len(chosen) else []
    table = pd.DataFrame(rows, columns=CSV_COLUMNS)
    table.to_csv(out / "explanations.csv", index=False)
    result["samples"] = len(table)
    print(
        f"Explained {len(table)} sample(s) of the {cfg.split} split with {method}: "
        f"{(out / 'explanations').resolve()} (table: {out / 'explanations.csv'})",
        flush=True,
    )
    return result


@hydra_entry_point("explain")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        explain(cfg)


if __name__ == "__main__":
    main()
