"""What ``predict`` is given and what it writes: input files, errors, the top-k table.

* :func:`find_inputs` - ``input=FILE|DIR|GLOB`` as image files (other files counted);
* :func:`check_model_file` - an exported model file must fit the checkpoint;
* :func:`top_k_entries` / :func:`top_k_columns` - the CSV's ``label_i, prob_i`` columns;
* :func:`write_predictions` - the CSV and the one-line summary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from sports_rec.data.index import (
    IMAGE_EXTENSIONS,
    VIDEO_SUFFIXES,
    input_files,
    is_image_file,
)
from sports_rec.errors import SportsRecError
from sports_rec.models.classifier import Classifier
from sports_rec.models.inputs import spec_by_name
from sports_rec.models.runners import OnnxRunner, Runner, sidecar_path


class PredictInputError(SportsRecError, FileNotFoundError):
    """``input`` names no image file."""


class ModelMismatch(SportsRecError, ValueError):
    """The model (file) does not fit the checkpoint's classes or input layout."""


@dataclass
class Inputs:
    """What ``input`` named: the image files to predict, and how many other files it held
    (a folder's ``labels.csv``, a stray ``.txt``), which are reported, not predicted."""

    images: list[Path]
    non_images: int = 0


def find_inputs(spec: str | Path) -> Inputs:
    """Resolve ``input`` to image files: a file, a folder (recursive) or a glob pattern.

    A file named explicitly is kept whatever its extension (the user asked for it; if it
    is no image its row says so). Folders and patterns keep image extensions only; the
    other files they hold are counted for the summary.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_file():
        return Inputs([path])
    candidates = input_files(path)
    if candidates is None:
        raise PredictInputError(f"input='{text}' does not exist (give a file, a folder or a glob)")
    images = [p for p in candidates if is_image_file(p)]
    if not images:
        extensions = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise PredictInputError(
            f"no image files found for input='{text}' (looked for {extensions}; folders are "
            "searched recursively, patterns such as 'photos/**/*.jpg' are expanded)"
        )
    return Inputs(images, non_images=len(candidates) - len(images))


def check_model_file(model_file: Path, runner: Runner, model: Classifier) -> None:
    """Refuse an exported file whose classes or input layout differ from the checkpoint's.

    Preprocessing and labels come from the checkpoint, so a file exported from another
    run would silently produce wrong labels.
    """
    described = spec_by_name(model.input_spec)
    expected_inputs = [(name, list(described[name]["shape"])) for name in model.input_keys]
    sidecar = sidecar_path(model_file)
    if sidecar.is_file():
        info = json.loads(sidecar.read_text())
        recorded = info.get("inputs") or [info.get("input") or {}]
        found = {
            "class_names": info.get("class_names"),
            "inputs": [(i.get("name"), list(i.get("shape", []))[1:]) for i in recorded],
        }
        expected = {"class_names": list(model.class_names), "inputs": expected_inputs}
        differing = [
            f"{key} {found[key]} where the checkpoint has {value}"
            for key, value in expected.items()
            if found[key] != value
        ]
        if differing:
            raise ModelMismatch(
                f"'{model_file}' was not exported from this checkpoint: its {sidecar.name} "
                f"records {'; '.join(differing)}. Export it from the checkpoint you "
                "predict with: python -m sports_rec.export ckpt_path=..."
            )
    if isinstance(runner, OnnxRunner):
        for (name, shape), graph_name in zip(expected_inputs, runner.input_names, strict=False):
            declared = runner.input_shapes[graph_name][1:]
            if any(isinstance(d, int) and d != e for d, e in zip(declared, shape, strict=False)):
                raise ModelMismatch(
                    f"'{model_file}' takes {graph_name} of shape "
                    f"{runner.input_shapes[graph_name]}, but the checkpoint's {name} is "
                    f"[batch, {', '.join(map(str, shape))}]"
                )


def top_k_columns(k: int) -> list[str]:
    """``label_1, prob_1, ..., label_k, prob_k``."""
    return [name for i in range(1, k + 1) for name in (f"label_{i}", f"prob_{i}")]


def top_k_entries(probs: torch.Tensor, class_names: Sequence[str], k: int) -> list[dict]:
    """One ``{label_i, prob_i}`` dict per row of ``probs``, most likely class first."""
    values, indices = probs.topk(k, dim=1)
    rows = []
    for row_values, row_indices in zip(values.tolist(), indices.tolist(), strict=True):
        entry: dict[str, Any] = {}
        for rank, (value, index) in enumerate(zip(row_values, row_indices, strict=True), 1):
            entry[f"label_{rank}"] = class_names[index]
            entry[f"prob_{rank}"] = value
        rows.append(entry)
    return rows


def is_video_path(spec: str | Path) -> bool:
    """Whether ``input`` names a video file (by its suffix)."""
    return Path(str(spec)).suffix.lower() in VIDEO_SUFFIXES


def write_predictions(
    table: pd.DataFrame, output: str | Path, source: str, non_images: int = 0
) -> dict[str, Any]:
    """Write the predictions CSV and print one line saying what was predicted with what."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output, index=False)
    unreadable = int((table["error"] != "").sum())
    skipped = f"; {non_images} non-image file(s) in the input skipped" if non_images else ""
    print(
        f"Predicted {len(table)} files ({unreadable} unreadable) with {source}{skipped}; "
        f"predictions: {output.resolve()}",
        flush=True,
    )
    return {
        "output": str(output),
        "files": len(table),
        "unreadable": unreadable,
        "non_images": non_images,
    }
