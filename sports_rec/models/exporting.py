"""Exporting a classifier's net to ONNX or TorchScript, checked against PyTorch.

:func:`export_model` traces the net with inputs of the checkpoint's ``input_spec`` (every
input, in ``input_keys`` order, a dynamic batch dimension), reloads the file with its
runtime (:mod:`sports_rec.models.runners`) and compares the logits on several batch sizes;
a file that is not faithful is refused with what to try instead. :func:`write_sidecar`
records what a runtime needs besides the graph (classes, inputs, eval transform).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from omegaconf import DictConfig, ListConfig, OmegaConf

from sports_rec.models.classifier import Classifier
from sports_rec.models.inputs import example_inputs, spec_by_name
from sports_rec.models.metadata import CheckpointMetadata
from sports_rec.models.runners import (
    ExportError,
    Runner,
    _quiet_deprecations,
    check_format,
    load_exported,
    sidecar_path,
)

DEFAULT_FILE_NAMES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
OUTPUT_NAME = "logits"


class LogitsNet(nn.Module):
    """``inputs -> logits``: the classifier's net without the LightningModule around it.

    Exporting the net through this wrapper fixes the graph's signature (positional tensors
    in, in ``input_keys`` order, one tensor out) whatever the net's own ``forward`` accepts.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.net(*inputs)


@dataclass
class ExportResult:
    """What an export produced and how closely it matches PyTorch."""

    path: Path
    format: str
    max_difference: float
    batch_sizes: list[int]
    details: dict[str, Any] = field(default_factory=dict)


def describe_net(model: Classifier) -> str:
    """A human name for the net, e.g. ``'resnet10t' (ResNet)``, for error messages."""
    name = dict(model.hparams.get("net") or {}).get("name")
    cls = type(model.net).__name__
    return f"'{name}' ({cls})" if name else f"'{cls}'"


def _plain(value: Any) -> Any:
    """Metadata as JSON-serialisable containers (it may hold OmegaConf nodes)."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def check_exportable(model: Classifier, fmt: str) -> None:
    """Refuse nets whose inputs the checkpoint does not describe (nothing to trace with)."""
    described = spec_by_name(model.input_spec)
    missing = [key for key in model.input_keys if key not in described]
    if missing:
        raise ExportError(
            f"cannot export {describe_net(model)} to {fmt}: the net consumes "
            f"{list(model.input_keys)} but the checkpoint describes only {sorted(described)} "
            f"(no shape to trace {missing} with). Use `python -m sports_rec.predict "
            "ckpt_path=...` without model_file to predict with the checkpoint in PyTorch."
        )


def _advice(fmt: str, dynamo: bool) -> str:
    """What to try when ``fmt`` cannot express a net."""
    if fmt == "onnx":
        other_exporter = "dynamo=false" if dynamo else "dynamo=true"
        return (
            f"Try format=torchscript, the other ONNX exporter with {other_exporter} or a newer "
            "opset=..., or predict from the checkpoint in PyTorch (predict without model_file)."
        )
    return (
        "Try format=onnx, or predict from the checkpoint in PyTorch (predict without model_file)."
    )


def _refusal(fmt: str, net: str, step: str, error: BaseException, dynamo: bool) -> ExportError:
    """An :class:`ExportError` that says what failed in one line and what to do next.

    Exporter errors can be pages long (IR graph dumps); their first line names the cause,
    the full error stays chained as ``__cause__`` for debugging.
    """
    lines = str(error).strip().splitlines()
    reason = f"{type(error).__name__}: {lines[0] if lines else 'no message'}"
    return ExportError(f"cannot {step} {net} as {fmt}: {reason}. {_advice(fmt, dynamo)}")


def export_onnx(
    module: nn.Module,
    examples: tuple[torch.Tensor, ...],
    names: Sequence[str],
    path: Path,
    opset: int,
    dynamo: bool,
) -> None:
    """Write ``module`` as ONNX with named inputs and a dynamic batch dimension on each
    input and the output."""
    common: dict[str, Any] = {
        "input_names": list(names),
        "output_names": [OUTPUT_NAME],
        "opset_version": int(opset),
    }
    with _quiet_deprecations(), torch.no_grad():
        if dynamo:
            batch = torch.export.Dim("batch")
            torch.onnx.export(
                module,
                examples,
                str(path),
                dynamo=True,
                dynamic_shapes=tuple({0: batch} for _ in names),
                external_data=False,  # one self-contained file, like the legacy exporter
                verbose=False,
                **common,
            )
        else:
            axes = {name: {0: "batch"} for name in [*names, OUTPUT_NAME]}
            torch.onnx.export(
                module,
                examples,
                str(path),
                dynamo=False,
                dynamic_axes=axes,
                do_constant_folding=True,
                **common,
            )


def export_torchscript(module: nn.Module, examples: tuple[torch.Tensor, ...], path: Path) -> None:
    """Trace ``module`` and save it; tracing records the ops run on ``examples``."""
    with _quiet_deprecations(), torch.no_grad():
        traced = torch.jit.trace(module, examples)
        torch.jit.save(traced, str(path))


def check_batch_sizes(batch_size: int, count: int) -> list[int]:
    """Batch sizes compared after export: 1 and sizes other than the traced one.

    A graph that baked in the example's batch size fails on all of them.
    """
    return [1] + [batch_size + i for i in range(1, max(1, count))]


def compare(
    reference: nn.Module, exported: Runner, batches: list[list[torch.Tensor]]
) -> tuple[float, list[int]]:
    """Largest absolute logit difference between ``exported`` and ``reference`` over the
    batches (each a list of inputs in the net's order).

    Raises :class:`ValueError` when the shapes differ (e.g. a fixed batch dimension).
    """
    worst = 0.0
    for inputs in batches:
        with torch.inference_mode():
            expected = reference(*inputs)
        got = exported(*inputs)
        if tuple(got.shape) != tuple(expected.shape):
            raise ValueError(
                f"for a batch of {inputs[0].shape[0]} the exported model returned shape "
                f"{tuple(got.shape)} instead of {tuple(expected.shape)}"
            )
        worst = max(worst, float((got.float() - expected.float()).abs().max()))
    return worst, [int(inputs[0].shape[0]) for inputs in batches]


def export_model(
    model: Classifier,
    fmt: str,
    output: str | Path,
    *,
    opset: int = 18,
    dynamo: bool = False,
    batch_size: int = 2,
    atol: float = 1e-4,
    check_batches: int = 3,
    seed: int = 42,
) -> ExportResult:
    """Export ``model.net`` as ``fmt`` to ``output``, reload it and compare with PyTorch."""
    fmt = check_format(fmt)
    check_exportable(model, fmt)
    names = list(model.input_keys)
    net = describe_net(model)
    module = LogitsNet(model.net).eval()
    generator = torch.Generator().manual_seed(int(seed))

    def random_batch(n: int) -> list[torch.Tensor]:
        return example_inputs(model.input_spec, names, n, generator)

    output = Path(output).expanduser()
    output.parent.mkdir(parents=True, exist_ok=True)
    examples = tuple(random_batch(max(1, int(batch_size))))
    try:
        if fmt == "onnx":
            export_onnx(module, examples, names, output, opset, dynamo)
        else:
            export_torchscript(module, examples, output)
    except Exception as error:
        raise _refusal(fmt, net, "export", error, dynamo) from error

    batches = [random_batch(n) for n in check_batch_sizes(int(batch_size), int(check_batches))]
    try:
        difference, sizes = compare(module, load_exported(output, fmt), batches)
    except Exception as error:
        raise _refusal(fmt, net, "run the exported", error, dynamo) from error
    if not difference <= float(atol):  # also catches NaN
        raise ExportError(
            f"the {fmt} export of {net} differs from PyTorch by max |difference| = "
            f"{difference:.3g} > atol={float(atol):g} (batch sizes {sizes}); the file "
            f"'{output}' is not faithful. {_advice(fmt, dynamo)}"
        )
    details = {"opset": int(opset), "exporter": "dynamo" if dynamo else "torchscript"}
    return ExportResult(
        path=output,
        format=fmt,
        max_difference=difference,
        batch_sizes=sizes,
        details=details if fmt == "onnx" else {},
    )


def write_sidecar(result: ExportResult, model: Classifier, ckpt_path: str | Path) -> Path:
    """Record what a runtime needs besides the graph: classes, every input, transform."""
    metadata = CheckpointMetadata.of(model)
    transforms = _plain(metadata.transforms)
    described = spec_by_name(model.input_spec)
    inputs = [
        {
            "name": name,
            "shape": ["batch", *described[name]["shape"]],
            "dtype": str(described[name]["dtype"]).removeprefix("torch."),
        }
        for name in model.input_keys
    ]
    info = {
        "format": result.format,
        "file": result.path.name,
        "inputs": inputs,
        "input": inputs[0],
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(model.class_names)]},
        "class_names": list(model.class_names),
        "channels": metadata.channels,
        "image_size": metadata.image_size,
        "eval_transform": transforms.get("eval"),
        "max_difference": result.max_difference,
        "checked_batch_sizes": result.batch_sizes,
        **result.details,
        "net": describe_net(model),
        "checkpoint": str(Path(ckpt_path).expanduser().resolve()),
        "torch": torch.__version__,
    }
    path = sidecar_path(result.path)
    path.write_text(json.dumps(info, indent=2))
    return path
