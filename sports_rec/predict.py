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
"""

from __future__ import annotations

import glob
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.checkpoint import load_classifier
from sports_rec.data.datamodule import auto_num_workers
from sports_rec.data.datasets import dataset_class
from sports_rec.data.image_io import DATASET_SLACK, ImageDecodeError, load_image
from sports_rec.data.index import IMAGE_EXTENSIONS, is_image_file
from sports_rec.errors import SportsRecError
from sports_rec.export import OnnxRunner, load_exported, sidecar_path
from sports_rec.models.classifier import Classifier
from sports_rec.models.inputs import spec_by_name
from sports_rec.predicting.timeline import predict_timeline, summary_lines
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.run import exit_on_user_error, task_wrapper

Runner = Callable[..., torch.Tensor]
GLOB_CHARS = frozenset("*?[")
#: Suffixes taken as videos when deciding whether ``input`` suits the checkpoint.
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})


class PredictInputError(SportsRecError, FileNotFoundError):
    """``input`` names no image file."""


class ModelMismatch(SportsRecError, ValueError):
    """The model (file) does not fit the checkpoint's classes or input layout."""


def _files_under(folder: Path) -> list[Path]:
    """Visible files anywhere below ``folder`` (hidden files and folders skipped), sorted."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


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
    if path.is_dir():
        candidates = _files_under(path)
    elif GLOB_CHARS & set(text):
        found: set[Path] = set()
        for match in sorted(glob.glob(str(path), recursive=True)):
            candidate = Path(match)
            found.update(_files_under(candidate) if candidate.is_dir() else [candidate])
        candidates = sorted(p for p in found if p.is_file())
    else:
        raise PredictInputError(f"input='{text}' does not exist (give a file, a folder or a glob)")
    images = [p for p in candidates if is_image_file(p)]
    if not images:
        extensions = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise PredictInputError(
            f"no image files found for input='{text}' (looked for {extensions}; folders are "
            "searched recursively, patterns such as 'photos/**/*.jpg' are expanded)"
        )
    return Inputs(images, non_images=len(candidates) - len(images))


def pytorch_runner(model: Classifier) -> Runner:
    """The checkpoint's net in PyTorch: logits of float inputs (in ``input_keys`` order)."""

    def run(*inputs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(dict(zip(model.input_keys, inputs, strict=True)))

    return run


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


class FileSamples(Dataset):
    """The files to predict, decoded and transformed in DataLoader workers.

    An item is ``(tensor or None, error)``: decoding errors are returned, not raised, so one
    bad file costs its own prediction only.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        transform: Callable[[Any], torch.Tensor],
        mode: str,
        max_side: int,
    ) -> None:
        self.paths, self.transform, self.mode, self.max_side = paths, transform, mode, max_side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, str]:
        try:
            image = load_image(
                self.paths[index], mode=self.mode, max_side=self.max_side, slack=DATASET_SLACK
            )
        except ImageDecodeError as error:
            return None, error.reason
        return self.transform(image), ""


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


def predict_files(
    paths: Sequence[Path],
    runner: Runner,
    transform: Callable[[Any], torch.Tensor],
    class_names: Sequence[str],
    channels: int,
    image_size: int,
    top_k: int = 5,
    batch_size: int = 16,
    num_workers: int | None = 0,
) -> pd.DataFrame:
    """Predict every file of ``paths`` in batches; one row per file, in the given order.
    Files are decoded and transformed by ``num_workers`` DataLoader workers (None: chosen
    from the machine, as ``data.num_workers``)."""
    k = max(1, min(int(top_k), len(class_names)))
    mode = "L" if channels == 1 else "RGB"
    rows: list[dict[str, Any]] = []
    step = max(1, int(batch_size))
    samples = FileSamples(paths, transform, mode, max_side=2 * image_size)
    workers = auto_num_workers() if num_workers is None else int(num_workers)
    loader = DataLoader(
        samples, batch_size=step, num_workers=min(workers, len(paths)), collate_fn=list
    )
    for start, items in zip(range(0, len(paths), step), loader, strict=True):
        chunk = paths[start : start + step]
        tensors = [tensor for tensor, error in items if not error]
        entries: list[dict] = []
        if tensors:
            batch = torch.stack(tensors)
            try:
                logits = runner(batch)
            except Exception as error:
                first = (str(error).strip().splitlines() or [""])[0]
                raise ModelMismatch(
                    f"the model cannot run a batch of shape {tuple(batch.shape)} (the "
                    f"checkpoint's eval transform output): {type(error).__name__}: {first}"
                ) from error
            if logits.shape[-1] != len(class_names):
                raise ValueError(
                    f"the model returns {logits.shape[-1]} logits but the checkpoint has "
                    f"{len(class_names)} classes"
                )
            entries = top_k_entries(logits.float().softmax(dim=1), class_names, k)
        predictions = iter(entries)
        for path, (_, error) in zip(chunk, items, strict=True):
            rows.append({"path": str(path), "error": error, **({} if error else next(predictions))})
    return pd.DataFrame(rows, columns=["path", "error", *top_k_columns(k)])


def read_input_table(spec: str | Path, data_cfg: dict[str, Any]) -> pd.DataFrame:
    """The samples of ``input`` for a net with several inputs, read with the checkpoint's own
    reader: an annotation file (an InfiniteForm-style COCO JSON: images and keypoints) or a
    folder in the training data's layout."""
    path = Path(str(spec)).expanduser()
    reader = dict(data_cfg["reader"])
    if path.is_file():
        if "annotations" not in reader:
            raise PredictInputError(
                f"input='{path}' is a file, but this checkpoint's data is read from a folder "
                f"({reader['_target_']}): give the folder"
            )
        reader["annotations"], root = str(path), path.parent
    elif path.is_dir():
        root = path
    else:
        raise PredictInputError(
            f"input='{path}' does not exist: this net also takes "
            f"{', '.join(data_cfg.get('inputs', [])) or 'other inputs'}, so give an annotation "
            "file (e.g. an InfiniteForm-style JSON of images and keypoints) or a data folder"
        )
    frame = instantiate(reader)(str(root)).frame
    if frame.empty:
        raise PredictInputError(f"input='{path}' holds no sample")
    return frame


def predict_table(
    frame: pd.DataFrame,
    model: Classifier,
    runner: Runner,
    data_cfg: dict[str, Any],
    transform: Callable[[Any], Any],
    top_k: int = 5,
    batch_size: int = 16,
) -> pd.DataFrame:
    """Predict every row of ``frame`` through the checkpoint's dataset class (so each input
    is prepared exactly as in testing); unreadable files get a row with their error."""
    make = instantiate(data_cfg["dataset"])
    skipped = dataset_class(make).check_files(frame)
    usable = frame[~frame["path"].isin(skipped)].reset_index(drop=True)
    k = max(1, min(int(top_k), len(model.class_names)))
    ids = [c for c in ("image_id", "annotation_id") if c in frame.columns]
    rows = [
        {"path": record["path"], "error": skipped[record["path"]], **{c: record[c] for c in ids}}
        for record in frame.to_dict("records")
        if record["path"] in skipped
    ]
    if len(usable):
        dataset = make(frame=usable, transform=transform, train=False, checked=True)
        loader = DataLoader(dataset, batch_size=max(1, int(batch_size)))
        for batch in loader:
            logits = runner(*(batch[key] for key in model.input_keys))
            entries = top_k_entries(logits.float().softmax(dim=1), model.class_names, k)
            for index, entry in zip(batch["index"].tolist(), entries, strict=True):
                row = usable.iloc[index]
                rows.append({"path": row["path"], "error": "", **{c: row[c] for c in ids}, **entry})
    order = {p: i for i, p in enumerate(frame["path"])}
    rows.sort(key=lambda r: (order[r["path"]], r.get("annotation_id", 0)))
    return pd.DataFrame(rows, columns=["path", *ids, "error", *top_k_columns(k)])


@task_wrapper
def predict(cfg: DictConfig) -> dict[str, Any]:
    """Predict ``cfg.input`` with the checkpoint (or ``model_file``) and write the CSV."""
    model = load_classifier(cfg.ckpt_path)
    metadata = model.hparams.metadata
    is_video = Path(str(cfg.input)).suffix.lower() in VIDEO_SUFFIXES
    if "video" in model.input_keys and not is_video:
        raise PredictInputError(
            f"input='{cfg.input}' is not a video file, but this checkpoint classifies video "
            f"clips: give one video ({', '.join(sorted(VIDEO_SUFFIXES))})"
        )
    if is_video and "video" not in model.input_keys:
        raise PredictInputError(
            f"input='{cfg.input}' is a video, but this checkpoint classifies "
            f"{' + '.join(model.input_keys)} inputs: predict videos with a clip model's "
            "checkpoint (e.g. trained with data=exercise_video model=c3d), or give images"
        )
    multi_input = tuple(model.input_keys) not in (("image",), ("video",))
    takes_files = not multi_input and "video" not in model.input_keys
    inputs = find_inputs(cfg.input) if takes_files else Inputs([])
    paths = inputs.images
    channels, image_size = int(metadata.get("channels", 3)), int(metadata["image_size"])
    transform = instantiate(metadata["transforms"]["eval"])
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
    if "video" in model.input_keys:
        return predict_video(cfg, model, runner, metadata, transform, source)
    if multi_input:
        data_cfg = {**metadata["data"], "inputs": list(model.input_keys)}
        frame = read_input_table(cfg.input, data_cfg)
        table = predict_table(
            frame, model, runner, data_cfg, transform, top_k=cfg.top_k, batch_size=cfg.batch_size
        )
    else:
        table = predict_files(
            paths,
            runner,
            transform,
            model.class_names,
            channels,
            image_size,
            top_k=cfg.top_k,
            batch_size=cfg.batch_size,
            num_workers=cfg.get("num_workers"),
        )
    output = Path(cfg.get("output") or Path(cfg.paths.output_dir) / "predictions.csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output, index=False)
    unreadable = int((table["error"] != "").sum())
    skipped = (
        f"; {inputs.non_images} non-image file(s) in the input skipped" if inputs.non_images else ""
    )
    print(
        f"Predicted {len(table)} files ({unreadable} unreadable) with {source}{skipped}; "
        f"predictions: {output.resolve()}",
        flush=True,
    )
    return {
        "output": str(output),
        "files": len(table),
        "unreadable": unreadable,
        "non_images": inputs.non_images,
    }


def predict_video(
    cfg: DictConfig,
    model: Classifier,
    runner: Runner,
    metadata: dict[str, Any],
    transform: Callable[[Any], Any],
    source: str,
) -> dict[str, Any]:
    """The timeline of the video ``cfg.input`` (see the module docstring)."""
    out_dir = Path(cfg.get("output") or cfg.paths.output_dir)
    result = predict_timeline(
        cfg.input,
        runner,
        metadata,
        transform,
        list(model.class_names),
        out_dir,
        stride=int(cfg.stride),
        batch_size=int(cfg.batch_size),
        smoothing_s=float(cfg.smoothing_s),
        min_duration_s=float(cfg.min_duration_s),
        min_confidence=cfg.get("min_confidence"),
        annotate=bool(cfg.annotate),
        masks=cfg.get("masks"),
        poses=cfg.get("poses"),
        model_name=source,
    )
    print("\n".join(summary_lines(result)), flush=True)
    return {
        "output": str(out_dir),
        "frames": result["frames"],
        "segments": len(result["segments"]),
        "files": [str(f) for f in result["files"]],
    }


@hydra_entry_point("predict")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        predict(cfg)


if __name__ == "__main__":
    main()
