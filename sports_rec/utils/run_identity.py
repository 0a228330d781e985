"""Who a run is, for comparing it with others: its study, model label, W&B group and tags.

Computed from the config and Hydra's group choices by ``train`` (W&B tags and group) and
recomputed from a run folder by the offline dashboard, so both name runs the same way.
Kept apart from the W&B callback so that reading run folders needs no Lightning or torch:
the dashboard's offline path fails in about a second, not after importing a trainer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

# Config groups whose choice names the runs compared in a study (besides the study itself).
COMPARED_GROUPS: tuple[str, ...] = (
    "model",
    "loss",
    "sampler",
    "optimizer",
    "scheduler",
    "transforms",
    "experiment",
)
TAGGED_GROUPS: tuple[str, ...] = ("model", "loss", "sampler")
# Model options that take the architecture from ``model.net.name``: the name is the label.
GENERIC_MODEL_CHOICES = frozenset({"timm"})
MAX_TAG_LENGTH = 64  # W&B rejects longer tags


def hydra_choices() -> dict[str, str]:
    """Hydra's ``group -> option`` choices of the running job ({} outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {str(k): str(v) for k, v in choices.items() if v not in (None, "null")}


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_group(output_dir: str, multirun: bool | None = None) -> str:
    """W&B group: the sweep folder's name for a multirun job, the run folder's otherwise.

    Jobs of a sweep live in ``<sweep>/<job number>``, so they share ``<sweep>``. A single
    run gets a group of its own: grouping single runs by dataset would average runs of
    unrelated recipes into one line in W&B's grouped charts. ``multirun=None`` asks Hydra.
    """
    folder = Path(output_dir)
    multirun = _in_multirun() if multirun is None else multirun
    return folder.parent.name if multirun else folder.name


def model_label(choice: str | None, net_name: str | None) -> str:
    """The model's comparison label: the ``model=`` option, or the timm name for
    ``model=timm`` (where the option alone would lump every architecture together)."""
    if choice in GENERIC_MODEL_CHOICES and net_name:
        return str(net_name)
    return str(choice or net_name or "unknown")


def comparison_keys(
    study: str | None,
    dataset: str,
    net_name: str | None = None,
    choices: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The keys runs are compared by: study (default: the dataset), dataset and the
    choices of :data:`COMPARED_GROUPS` (``choices`` default: Hydra's)."""
    choices = hydra_choices() if choices is None else dict(choices)
    keys = {"study": str(study or dataset), "dataset": str(dataset)}
    for group in COMPARED_GROUPS:
        if group in choices:
            keys[group] = str(choices[group])
    keys["model"] = model_label(choices.get("model"), net_name)
    return keys


def _tag(key: str, value: str) -> str:
    # The dashboard filters on tags; W&B's filters compare tags in lower case.
    return f"{key}:{value}".lower()[:MAX_TAG_LENGTH]


def study_tag(study: str) -> str:
    """The tag marking a run as part of ``study`` (what the dashboard filters on)."""
    return _tag("study", study)


def run_tags(
    tags: Iterable[str] | None,
    study: str | None,
    dataset: str,
    net_name: str | None = None,
    choices: Mapping[str, str] | None = None,
) -> list[str]:
    """The user's ``tags`` plus ``study:<s>``, ``model:<m>``, ``loss:<l>``, ``sampler:<s>``.

    Duplicates are dropped, order kept; each tag is cut to W&B's 64 characters.
    """
    keys = comparison_keys(study, dataset, net_name, choices)
    derived = [study_tag(keys["study"])]
    derived += [_tag(group, keys[group]) for group in TAGGED_GROUPS if group in keys]
    result: list[str] = []
    for tag in [*(str(t)[:MAX_TAG_LENGTH] for t in tags or ()), *derived]:
        if tag not in result:
            result.append(tag)
    return result
