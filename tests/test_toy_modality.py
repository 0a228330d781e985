"""A fourth modality added from this file alone: 1-D signals (a sine whose frequency is the
class). Its reader, dataset, net and modality live here; the package is not touched. It
trains above chance, is evaluated from its checkpoint, predicted (in PyTorch and from its
ONNX export) and exported with the real entry points."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import Dataset

from sports_rec.data.index import IndexTable
from sports_rec.evaluate import evaluate
from sports_rec.export import export
from sports_rec.modalities import Modality, PredictJob, register_modality, unregister_modality
from sports_rec.predict import predict
from sports_rec.predicting.inputs import top_k_columns, top_k_entries, write_predictions
from sports_rec.train import train
from tests.conftest import compose_config, read_json

CLASSES = ("slow", "medium", "fast")
FREQUENCIES = (2.0, 5.0, 9.0)
LENGTH = 64


def write_signals(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """``root/<split>/<class>/<n>.npy``: noisy sines of the class's frequency."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, LENGTH, endpoint=False)
    for split, count in per_class.items():
        for name, frequency in zip(CLASSES, FREQUENCIES, strict=True):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(count):
                phase = rng.uniform(0, 2 * np.pi)
                wave = np.sin(2 * np.pi * frequency * t + phase) + 0.3 * rng.normal(size=LENGTH)
                np.save(folder / f"{n}.npy", wave.astype(np.float32))
    return root


def read_signals(root: str) -> IndexTable:
    """The reader: one row per ``.npy`` file, split and class from its folders."""
    rows = [
        {"path": str(path), "label": CLASSES.index(path.parent.name), "split": path.parts[-3]}
        for path in sorted(Path(root).glob("*/*/*.npy"))
    ]
    return IndexTable(pd.DataFrame(rows), list(CLASSES), root=str(root), unit="signal")


def load_signal(path: str | Path) -> torch.Tensor:
    return torch.from_numpy(np.load(path)).float()[None]  # [1, LENGTH]


class SignalDataset(Dataset):
    """The dataset contract (sports_rec/data/contract.py) for 1-D signals."""

    def __init__(
        self, frame: pd.DataFrame, transform: Any = None, train: bool = False, checked: bool = True
    ) -> None:
        self.frame = frame.reset_index(drop=True)
        self.paths = self.frame["path"].tolist()
        self.train = train

    @classmethod
    def check_files(cls, frame: pd.DataFrame) -> dict[str, str]:
        unreadable = {}
        for path in frame["path"]:
            try:
                np.load(path)
            except (OSError, ValueError) as error:
                unreadable[path] = str(error)
        return unreadable

    @property
    def labels(self) -> list[int]:
        return self.frame["label"].astype(int).tolist()

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index = key[0] if isinstance(key, tuple) else key
        signal = load_signal(self.paths[index])
        if self.train and isinstance(key, tuple):  # augmentation seeded per draw
            signal = torch.roll(signal, int(key[1]) % LENGTH, dims=-1)
        return {"signal": signal, "label": int(self.frame["label"][index]), "index": index}


class SignalNet(nn.Module):
    """A small 1-D CNN; ``input_keys`` tells the classifier which sample key it takes."""

    input_keys = ("signal",)

    def __init__(self, num_classes: int, in_chans: int = 1, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_chans, width, 7, padding=3),
            nn.ReLU(),
            nn.Conv1d(width, width, 7, padding=3),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(width, num_classes)

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(signal))


class SignalModality(Modality):
    """How ``predict`` reads signals: a ``.npy`` file or a folder of them."""

    name = "signal"
    spatial_input = "signal"

    def serves(self, input_keys: Sequence[str]) -> bool:
        return tuple(input_keys) == ("signal",)

    def predict(self, job: PredictJob) -> dict[str, Any]:
        given = Path(str(job.cfg.input))
        paths = sorted(given.glob("*.npy")) if given.is_dir() else [given]
        batch = torch.stack([load_signal(p) for p in paths])
        probs = job.runner(batch).float().softmax(dim=1)
        k = min(int(job.cfg.top_k), len(job.model.class_names))
        entries = top_k_entries(probs, job.model.class_names, k)
        table = pd.DataFrame(
            [{"path": str(p), "error": "", **e} for p, e in zip(paths, entries, strict=True)],
            columns=["path", "error", *top_k_columns(k)],
        )
        output = Path(job.cfg.paths.output_dir) / "predictions.csv"
        return write_predictions(table, output, job.source)


@pytest.fixture
def signal_modality() -> Iterator[SignalModality]:
    modality = register_modality(SignalModality())
    yield modality
    unregister_modality(modality)


def signal_train_config(root: Path, out: Path, tmp: Path) -> Any:
    cfg = compose_config(
        "train",
        [
            "trainer.accelerator=cpu",
            "trainer.max_epochs=6",
            "print_config=false",
            "logger=csv",
            "optimizer.lr=0.01",
            "callbacks.rich_progress_bar=null",
        ],
        out,
        tmp,
    )
    cfg.data = OmegaConf.create(
        {
            "_target_": "sports_rec.data.datamodule.SportsDataModule",
            "name": "toy_signals",
            "root": str(root),
            "reader": {"_target_": f"{__name__}.read_signals", "_partial_": True},
            "dataset": {"_target_": f"{__name__}.SignalDataset", "_partial_": True},
            "batch_size": 12,
            "num_workers": 0,
            "split_seed": 0,
            "output_dir": str(out),
        }
    )
    cfg.transforms = OmegaConf.create({"train": None, "eval": None})
    cfg.model.net = OmegaConf.create({"_target_": f"{__name__}.SignalNet", "width": 16})
    return cfg


def test_a_fourth_modality_trains_evaluates_predicts_and_exports(
    signal_modality: SignalModality, tmp_path: Path
) -> None:
    root = write_signals(tmp_path / "signals", {"train": 30, "test": 10})
    run = tmp_path / "run"
    metrics = train(signal_train_config(root, run, tmp_path))
    assert metrics["test/acc"] > 1 / len(CLASSES) + 0.3, metrics  # chance is 1/3
    ckpt = run / "checkpoints" / "last.ckpt"

    evaluated = tmp_path / "evaluated"
    again = evaluate(compose_config("evaluate", [f"ckpt_path={ckpt}"], evaluated, tmp_path))
    assert again["test/acc"] > 1 / len(CLASSES) + 0.3

    exported = tmp_path / "exported"
    result = export(compose_config("export", [f"ckpt_path={ckpt}"], exported, tmp_path))
    assert read_json(Path(result["sidecar"]))["inputs"][0]["name"] == "signal"

    fresh = write_signals(tmp_path / "fresh", {"new": 4}, seed=7)
    tables = []
    for name, extra in (("torch", []), ("onnx", [f"model_file={result['output']}"])):
        out = tmp_path / f"predicted_{name}"
        predict(
            compose_config(
                "predict", [f"ckpt_path={ckpt}", f"input={fresh / 'new' / 'fast'}", *extra], out,
                tmp_path,
            )
        )  # fmt: skip
        tables.append(pd.read_csv(out / "predictions.csv"))
    torch_table, onnx_table = tables
    assert len(torch_table) == 4 and (torch_table["label_1"] == "fast").mean() >= 0.75
    assert list(onnx_table["label_1"]) == list(torch_table["label_1"])
    np.testing.assert_allclose(onnx_table["prob_1"], torch_table["prob_1"], atol=1e-4)


def test_without_its_modality_predict_says_what_to_register(tmp_path: Path) -> None:
    from sports_rec.errors import ConfigError
    from sports_rec.modalities import modality_for

    with pytest.raises(ConfigError, match=r"no modality serves a net that takes \['signal'\]"):
        modality_for(("signal",))
