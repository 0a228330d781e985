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
``predict model_file=...`` and other runtimes can use the file. The machinery lives in the
model layer (:mod:`sports_rec.models.exporting`, :mod:`sports_rec.models.runners`); this
module is the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.checkpoint import load_classifier
from sports_rec.models.exporting import (
    DEFAULT_FILE_NAMES,
    describe_net,
    export_model,
    write_sidecar,
)
from sports_rec.models.runners import check_format
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.config_checks import required_checkpoint
from sports_rec.utils.run import exit_on_user_error, task_wrapper


@task_wrapper
def export(cfg: DictConfig) -> dict[str, Any]:
    """Export the checkpoint's net, verify it and write the sidecar (the CLI's task)."""
    fmt = check_format(cfg.format)
    model = load_classifier(required_checkpoint(cfg, "export"))
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
