"""Inference speed of the three runners ``predict`` can use: the checkpoint's PyTorch net
(eager), TorchScript and ONNX Runtime (``model_file=``), at batch 1 and 32.

The classifier is built from the model config (random weights: speed does not depend on
them), exported with ``sports_rec.models.exporting.export_model`` (which also checks the file
against PyTorch) and timed on the same random batches; median seconds per batch after
warm-up, as images/s, and each runner against eager.

    python benchmarks/predict.py --models small resnet50 --image-size 224
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from rich.console import Console
from rich.table import Table
from timing import median_seconds

import sports_rec
from sports_rec.models.classifier import Classifier
from sports_rec.models.exporting import export_model
from sports_rec.models.runners import load_exported, pytorch_runner

CONF_DIR = sports_rec.CONF_DIR


def classifier(model: str, size: int) -> Classifier:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train", overrides=[f"model={model}", f"data.image_size={size}", "paths.root_dir=."]
        )
    return Classifier(
        net=dict(cfg.model.net),
        loss=dict(cfg.loss),
        optimizer=dict(cfg.optimizer),
        scheduler=None,
        metadata={
            "class_names": [str(i) for i in range(10)],
            "input_spec": [{"name": "image", "shape": [3, size, size], "dtype": "torch.float32"}],
        },
    ).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["small", "resnet50"])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    table = Table(
        title=f"predict runners, {args.image_size} px, CPU "
        f"({torch.get_num_threads()} threads), median of {args.repeats}"
    )
    for column in (
        "model",
        "batch",
        "eager img/s",
        "TorchScript img/s",
        "ONNX Runtime img/s",
        "TorchScript / eager",
        "ONNX / eager",
    ):
        table.add_column(column, justify="right")
    for name in args.models:
        model = classifier(name, args.image_size)
        with tempfile.TemporaryDirectory() as tmp:
            runners = {"eager": pytorch_runner(model)}
            for fmt, suffix in (("torchscript", ".pt"), ("onnx", ".onnx")):
                path = Path(tmp) / f"model{suffix}"
                export_model(model, fmt, path)
                runners[fmt] = load_exported(path)
            for batch in args.batches:
                x = torch.randn(batch, 3, args.image_size, args.image_size)
                rates = {}
                for key, run in runners.items():
                    run(x)  # warm-up
                    rates[key] = batch / median_seconds(lambda r=run, x=x: r(x), args.repeats)
                table.add_row(
                    name,
                    str(batch),
                    *(f"{rates[k]:.1f}" for k in runners),
                    f"{rates['torchscript'] / rates['eager']:.2f}x",
                    f"{rates['onnx'] / rates['eager']:.2f}x",
                )
    Console().print(table)


if __name__ == "__main__":
    main()
