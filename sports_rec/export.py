"""Export a checkpoint's net: ``python -m sports_rec.export ckpt_path=PATH [format=onnx]``.

Deployment runtimes need the net alone, not the LightningModule with its loss, metrics and
dict batches. The exported graph takes the net's inputs by name, in the order of its
``input_keys`` (an image net: ``image`` ``[N, C, H, W]``; the InfiniteForm fusion nets:
``image`` and ``keypoints`` ``[N, 51]``), shapes from the checkpoint's ``input_spec`` with a
dynamic batch ``N``, and returns ``logits`` ``[N, classes]``.

* ``format=onnx`` uses ``torch.onnx.export`` (the TorchScript-based exporter by default,
  which works offline and for every timm model; ``dynamo=true`` selects the torch.export
  one) and checks the file with ONNX Runtime (CPU).
* ``format=torchscript`` traces the net and checks the file reloaded with ``torch.jit.load``.

Either way the exported model is compared with PyTorch on random batches of several sizes
(so a batch size baked into the graph is caught) and ``max |difference|`` is printed; above
``atol`` the export fails. A net a format cannot express (an unsupported operator, several
an input the checkpoint does not describe ...) is refused with an :class:`ExportError`
naming the format, the net and what to try instead. A JSON sidecar ``<output>.json``
records the class names, every input's spec and the eval transform, so
``predict model_file=...`` and other runtimes can use the file.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from omegaconf import DictConfig, ListConfig, OmegaConf

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.checkpoint import load_classifier
from sports_rec.errors import SportsRecError
from sports_rec.models.classifier import Classifier
from sports_rec.models.inputs import example_inputs, spec_by_name
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.logging import get_logger
from sports_rec.utils.run import exit_on_user_error, task_wrapper

log = get_logger(__name__)

FORMATS = ("onnx", "torchscript")
DEFAULT_FILE_NAMES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
OUTPUT_NAME = "logits"

# Logits of a float32 net from its inputs (in input_keys order); what is exported runs the
# same arithmetic in another order.
Runner = Callable[..., torch.Tensor]


class ExportError(SportsRecError, RuntimeError):
    """The net cannot be exported to (or faithfully expressed in) the requested format."""


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


def check_format(fmt: str) -> str:
    """Normalise ``format`` early, so a typo fails before the checkpoint is loaded."""
    normalised = str(fmt).strip().lower()
    if normalised not in FORMATS:
        raise ExportError(f"unknown format={fmt!r}; choose one of {', '.join(FORMATS)}")
    return normalised


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


@contextlib.contextmanager
def _quiet_deprecations() -> Iterator[None]:
    """Hide torch's deprecation notices for torch.jit and the TorchScript ONNX exporter.

    Both are deprecated in favour of torch.export but remain the robust offline route for
    timm nets; the notices would bury the messages that matter (the max difference).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=r".*feature will be removed.*")
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated")
        yield


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


def format_of(path: str | Path) -> str:
    """The format of an exported file, from its name (``.onnx`` or anything TorchScript)."""
    return "onnx" if Path(path).suffix.lower() == ".onnx" else "torchscript"


class OnnxRunner:
    """An ONNX file run by ONNX Runtime on the CPU, as an ``(*inputs) -> logits`` callable
    (inputs in the graph's order)."""

    def __init__(self, path: str | Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        graph_inputs = self.session.get_inputs()
        self.input_names: list[str] = [i.name for i in graph_inputs]
        # Leading dim is symbolic ('batch') when dynamic; the others are ints.
        self.input_shapes: dict[str, list[Any]] = {i.name: list(i.shape) for i in graph_inputs}

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        feed = {
            name: tensor.detach().cpu().float().numpy()
            for name, tensor in zip(self.input_names, inputs, strict=True)
        }
        (logits,) = self.session.run(None, feed)[:1]
        return torch.from_numpy(logits)


class TorchScriptRunner:
    """A TorchScript file reloaded with ``torch.jit.load``, as a tensor -> tensor callable."""

    def __init__(self, path: str | Path) -> None:
        with _quiet_deprecations():
            self.module = torch.jit.load(str(path), map_location="cpu").eval()

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.module(*(tensor.float() for tensor in inputs))


def load_exported(path: str | Path, fmt: str | None = None) -> Runner:
    """Load an exported file for inference; the format follows the name unless given."""
    fmt = check_format(fmt or format_of(path))
    return OnnxRunner(path) if fmt == "onnx" else TorchScriptRunner(path)


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


def sidecar_path(path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``: the metadata that travels with the file."""
    return Path(f"{path}.json")


def write_sidecar(result: ExportResult, model: Classifier, ckpt_path: str | Path) -> Path:
    """Record what a runtime needs besides the graph: classes, every input, transform."""
    metadata = model.hparams.metadata
    channels, size = int(metadata.get("channels", 3)), int(metadata["image_size"])
    transforms = _plain(metadata.get("transforms") or {})
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
        "channels": channels,
        "image_size": size,
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


@task_wrapper
def export(cfg: DictConfig) -> dict[str, Any]:
    """Export the checkpoint's net, verify it and write the sidecar (the CLI's task)."""
    fmt = check_format(cfg.format)
    model = load_classifier(cfg.ckpt_path)
    output = cfg.get("output") or Path(cfg.paths.output_dir) / DEFAULT_FILE_NAMES[fmt]
    result = export_model(
        model,
        fmt,
        output,
        opset=cfg.opset,
        dynamo=bool(cfg.get("dynamo", False)),
        batch_size=cfg.batch_size,
        atol=cfg.atol,
        check_batches=cfg.check_batches,
        seed=cfg.get("seed", 42),
    )
    sidecar = write_sidecar(result, model, cfg.ckpt_path)
    runtime = "ONNX Runtime" if fmt == "onnx" else "torch.jit.load"
    print(
        f"max |difference| = {result.max_difference:.3g} ({fmt} via {runtime} vs PyTorch, "
        f"batch sizes {result.batch_sizes}, atol {float(cfg.atol):g})",
        flush=True,
    )
    print(f"Exported {describe_net(model)} to {result.path.resolve()}", flush=True)
    print(f"Metadata sidecar: {sidecar.resolve()}", flush=True)
    return {
        "output": str(result.path),
        "sidecar": str(sidecar),
        "format": fmt,
        "max_difference": result.max_difference,
        "batch_sizes": result.batch_sizes,
    }


@hydra_entry_point("export")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        export(cfg)


if __name__ == "__main__":
    main()
