"""Predicting image files with an image-only checkpoint (decoded in DataLoader workers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from sports_rec.data.datamodule import auto_num_workers
from sports_rec.data.io.image_io import DATASET_SLACK, ImageDecodeError, decoding_cap, load_image
from sports_rec.models.runners import Runner
from sports_rec.predicting.inputs import ModelMismatch, top_k_columns, top_k_entries


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
    samples = FileSamples(paths, transform, mode, max_side=decoding_cap(image_size))
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
