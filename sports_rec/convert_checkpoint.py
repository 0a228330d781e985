"""Convert a checkpoint from a source you trust into one that loads safely:
``python -m sports_rec.convert_checkpoint SRC DST --trust-source``.

sports_rec loads checkpoints with ``torch.load(weights_only=True)``, which refuses a pickle
that asks to create Python objects other than tensors and plain types: unpickling such an
object can run any code. Checkpoints written by other tools (or by hand) often hold
harmless objects of that kind: an OmegaConf ``DictConfig`` of hyper-parameters, a numpy
scalar, a ``pathlib.Path``. This command loads SRC *unsafely*, which runs whatever code it
carries, so it insists on ``--trust-source``; it then turns every value into its plain
form (mappings, lists, numbers, strings, tensors), saves DST and checks that DST loads
safely. A value with no plain form is named and nothing is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from sports_rec.checkpoint import CheckpointError, load_checkpoint_file
from sports_rec.errors import SportsRecError

PLAIN = (torch.Tensor, bool, int, float, complex, str, bytes, type(None), torch.dtype)


class ConversionError(SportsRecError, ValueError):
    """A value of the checkpoint has no plain form (or the checkpoint cannot be written)."""


def plain_form(value: Any, where: str = "checkpoint") -> Any:
    """``value`` as tensors and plain Python types, which ``weights_only`` loading accepts."""
    if isinstance(value, PLAIN):
        return value
    if isinstance(value, DictConfig | ListConfig):
        return plain_form(OmegaConf.to_container(value, resolve=True), where)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, PurePath | torch.device):
        return str(value)
    if isinstance(value, enum.Enum):
        return plain_form(value.value, where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_form(dataclasses.asdict(value), where)
    if isinstance(value, argparse.Namespace):
        return plain_form(vars(value), where)
    if isinstance(value, Mapping):
        return {
            plain_form(k, f"{where} key"): plain_form(v, f"{where}[{k!r}]")
            for k, v in value.items()
        }
    if isinstance(value, set | frozenset):
        return [plain_form(v, f"{where} item") for v in value]
    if isinstance(value, list | tuple):  # namedtuples and torch.Size become plain tuples
        items = [plain_form(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    raise ConversionError(
        f"{where} is a {kind}, which has no plain form; nothing was written. Remove it from "
        "the checkpoint in Python (torch.load(..., weights_only=False), del, torch.save), then "
        "convert again."
    )


def convert_checkpoint(source: str | Path, target: str | Path) -> Path:
    """Load ``source`` unsafely (trusted files only), write its plain form to ``target`` and
    check that ``target`` loads with ``weights_only=True``. Returns ``target``."""
    source, target = Path(source).expanduser(), Path(target).expanduser()
    if not source.is_file():
        raise ConversionError(f"'{source}' does not exist or is not a file")
    if target.exists():
        raise ConversionError(f"'{target}' exists already; choose another output file")
    try:
        checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    except Exception as error:  # a class the pickle names may not be importable here
        raise ConversionError(
            f"'{source}' cannot be loaded even unsafely ({type(error).__name__}: {error}); it "
            "needs the code that wrote it: run this command where that code is importable"
        ) from error
    converted = plain_form(checkpoint)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    torch.save(converted, partial)
    try:
        load_checkpoint_file(partial)
    except CheckpointError as error:
        partial.unlink(missing_ok=True)
        raise ConversionError(
            f"the converted checkpoint still does not load safely: {error}"
        ) from error
    partial.replace(target)
    return target


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sports_rec.convert_checkpoint",
        description=(__doc__ or "").split("\n\n")[1],
    )
    parser.add_argument("source", help="the checkpoint sports_rec refused")
    parser.add_argument("target", help="where to write the safe checkpoint (a new file)")
    parser.add_argument(
        "--trust-source",
        action="store_true",
        help="required: loading SOURCE runs any code it carries; only for files you trust",
    )
    args = parser.parse_args(argv)
    if not args.trust_source:
        parser.error(
            "loading the source runs any code it carries: pass --trust-source only if you "
            "trust where the file comes from"
        )
    try:
        target = convert_checkpoint(args.source, args.target)
    except SportsRecError as error:
        sys.stderr.write(f"{error}\n")
        sys.exit(1)
    print(f"Wrote {target}: it loads safely (weights_only=True).", flush=True)


if __name__ == "__main__":
    main()
