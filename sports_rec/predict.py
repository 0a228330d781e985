"""Predict image classes: ``python -m sports_rec.predict ckpt_path=PATH input=FILE|DIR|GLOB``,
or the exercise timeline of a video with a clip model's checkpoint.

The checkpoint alone is enough: it carries the class names, the input channels and size
and the deterministic eval transform, so images are prepared exactly as in testing. With
``model_file=`` an exported ONNX or TorchScript file (``python -m sports_rec.export``)
computes the logits instead of the PyTorch net, with the same preprocessing; its sidecar,
when present, must agree with the checkpoint.

``input`` is an image file (any extension), a folder (searched recursively for image files)
or a glob pattern (``**`` recurses; matched folders are searched too). The CSV
(``<run folder>/predictions.csv`` by default) has one row per file in a stable order:
``path``, ``error`` (empty, or why the file could not be decoded), then ``label_1``,
``prob_1`` ... ``label_k``, ``prob_k`` (softmax probabilities, most likely first). A corrupt
or truncated image gets its error and empty predictions; the run goes on.

A checkpoint whose net takes ``video`` clips (``model=c3d``) predicts a video file instead:
``input=workout.mp4`` gets a timeline of exercise segments (``timeline.csv`` / ``.json``),
per-frame probabilities and, with ``annotate=true``, an annotated copy of the video
(:mod:`sports_rec.predicting.timeline`); ``output`` then names a folder.

Which of these happens is the checkpoint's modality's (:mod:`sports_rec.modalities`),
chosen by the net's inputs; this module only loads the model and what runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.checkpoint import load_classifier
from sports_rec.modalities import PredictJob, modality_for
from sports_rec.models.metadata import CheckpointMetadata
from sports_rec.models.runners import load_exported, pytorch_runner
from sports_rec.predicting.inputs import PredictInputError, check_model_file
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.config_checks import required_checkpoint
from sports_rec.utils.run import exit_on_user_error, task_wrapper


@task_wrapper
def predict(cfg: DictConfig) -> dict[str, Any]:
    """Predict ``cfg.input`` with the checkpoint (or ``model_file``) and write the results;
    what ``input`` may be and what is written is the checkpoint's modality's
    (:mod:`sports_rec.modalities`)."""
    model = load_classifier(required_checkpoint(cfg, "predict"))
    modality = modality_for(model.input_keys)
    transform = instantiate(CheckpointMetadata.of(model).eval_transform)
    if cfg.get("model_file"):
        model_file = Path(cfg.model_file).expanduser()
        if not model_file.is_file():
            raise PredictInputError(
                f"model_file='{model_file}' does not exist; write one with "
                "python -m sports_rec.export ckpt_path=... or leave model_file=null to predict "
                "with the checkpoint in PyTorch"
            )
        runner = load_exported(model_file)
        check_model_file(model_file, runner, model)
        source = str(model_file)
    else:
        runner = pytorch_runner(model)
        source = f"{cfg.ckpt_path} (PyTorch)"
    return modality.predict(PredictJob(cfg, model, runner, transform, source))


@hydra_entry_point("predict")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        predict(cfg)


if __name__ == "__main__":
    main()
