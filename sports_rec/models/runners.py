"""Running an exported net: ONNX through ONNX Runtime, TorchScript through ``torch.jit``.

Both are wrapped as a :data:`Runner`, ``(*inputs) -> logits`` like the checkpoint's own net
in PyTorch (:func:`pytorch_runner`), so ``predict`` and the export check use any of them
the same way. An exported file travels with a JSON sidecar (:func:`sidecar_path`) that
records its classes and inputs.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from sports_rec.errors import SportsRecError
from sports_rec.models.classifier import Classifier

FORMATS = ("onnx", "torchscript")

# Logits of a float32 net from its inputs (in input_keys order); what is exported runs the
# same arithmetic in another order.
Runner = Callable[..., torch.Tensor]


class ExportError(SportsRecError, RuntimeError):
    """The net cannot be exported to (or faithfully expressed in) the requested format."""


def check_format(fmt: str) -> str:
    """Normalise ``format`` early, so a typo fails before the checkpoint is loaded."""
    normalised = str(fmt).strip().lower()
    if normalised not in FORMATS:
        raise ExportError(f"unknown format={fmt!r}; choose one of {', '.join(FORMATS)}")
    return normalised


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


def sidecar_path(path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``: the metadata that travels with the file."""
    return Path(f"{path}.json")


def pytorch_runner(model: Classifier) -> Runner:
    """The checkpoint's net in PyTorch: logits of float inputs (in ``input_keys`` order)."""

    def run(*inputs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(dict(zip(model.input_keys, inputs, strict=True)))

    return run
