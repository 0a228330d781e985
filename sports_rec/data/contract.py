"""What a modality's dataset class must provide: the contract, in code.

The datamodule builds each split's dataset from a config node
(``factory(frame=..., transform=..., train=..., checked=...)``) and never looks at the
modality, so every dataset class, the built-in ones and one a user adds, must offer:

* ``check_files(frame, **options) -> {path: reason}`` - a classmethod: the files that
  cannot be used, found once at start-up (``data.check_images``) over the whole index,
  before splitting. :func:`check_files` passes it the dataset node's options (what the
  factory builds every dataset with: for images ``grayscale``, ``max_side``, ``cache`` ...),
  those it names, or all with ``**options``; so a check that decodes every file can decode
  as the datasets will and keep the result (the image store). A check that needs none
  takes ``frame`` alone;
* ``labels`` - one class id per sample (samplers, class counts);
* ``__len__`` and ``__getitem__(key)`` - ``key`` a row index or ``(row, draw seed)``; the
  sample is a dict holding ``index``, ``label`` and every input the net takes
  (``image``, ``keypoints``, ``video`` ...).

Optional parts, used where present: ``paths`` (the source file of each sample: galleries,
explanations), ``table`` (one row per sample, written as ``clips.csv``), ``unit`` (what a
sample is: ``image``, ``clip``), ``notes`` (lines for ``data_report.txt``) and
``preview(index)`` (a PIL image of a sample for galleries, e.g. a clip's middle frame).

:func:`check_dataset_class` is called where a dataset is built and names, in one message,
everything a class lacks; :func:`check_sample` does the same for a sample's keys.
:func:`check_files` runs a factory's start-up check.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from sports_rec.errors import ConfigError

SAMPLE_KEYS = ("index", "label")
REQUIRED = ("check_files", "labels", "__len__", "__getitem__")
OPTIONAL = ("paths", "table", "unit", "notes", "preview")


@runtime_checkable
class ModalityDataset(Protocol):
    """The required part of the contract (see the module docstring)."""

    @classmethod
    def check_files(cls, frame: pd.DataFrame, **options: Any) -> dict[str, str]: ...

    @property
    def labels(self) -> Sequence[int]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, key: Any) -> dict[str, Any]: ...


class DatasetContractError(ConfigError):
    """A dataset class (``data.dataset``) lacks part of the contract."""


def dataset_class(factory: Callable[..., Any]) -> type:
    """The class behind a dataset factory (a ``functools.partial`` or the class itself)."""
    return getattr(factory, "func", factory)


def check_dataset_class(factory: Callable[..., Any]) -> type:
    """Refuse a dataset class that lacks a required member, naming all it lacks."""
    cls = dataset_class(factory)
    if not isinstance(cls, type):
        raise DatasetContractError(
            f"data.dataset must name a dataset class (_target_), got {cls!r}"
        )
    missing = [name for name in REQUIRED if not hasattr(cls, name)]
    if missing:
        raise DatasetContractError(
            f"data.dataset {cls.__module__}.{cls.__qualname__} lacks {', '.join(missing)} "
            f"of the dataset contract ({', '.join(REQUIRED)}; see sports_rec/data/contract.py)"
        )
    return cls


def check_files(factory: Callable[..., Any], frame: pd.DataFrame) -> dict[str, str]:
    """``{path: reason}`` from the factory's class's ``check_files``, given the factory's
    options (a ``functools.partial``'s keywords: the dataset node) that it accepts."""
    cls = check_dataset_class(factory)
    options = dict(getattr(factory, "keywords", None) or {})
    parameters = inspect.signature(cls.check_files).parameters.values()
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        named = {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL}
        options = {key: value for key, value in options.items() if key in named}
    options.pop("frame", None)
    return cls.check_files(frame, **options)


def check_sample(sample: Mapping[str, Any], source: str) -> None:
    """Refuse a sample that is not a dict with ``index``, ``label`` and at least one input."""
    if not isinstance(sample, Mapping):
        raise DatasetContractError(
            f"{source} returned a {type(sample).__name__}; samples are dicts of "
            f"{', '.join(SAMPLE_KEYS)} and the inputs"
        )
    missing = [key for key in SAMPLE_KEYS if key not in sample]
    if missing or len(sample) <= len(SAMPLE_KEYS):
        what = f"lacks {', '.join(missing)}" if missing else "holds no input"
        raise DatasetContractError(
            f"a sample of {source} {what} (keys: {sorted(sample)}); samples hold "
            f"{', '.join(SAMPLE_KEYS)} and every input the net takes"
        )
