"""Seeded, stratified splits on the index table (pure functions, no I/O).

* :func:`assign_splits` fills the ``split`` column of rows that have none (e.g. workout's
  80/10/10), either per sample (``mode="random"``, the study's choice) or per group
  (``mode="grouped"``: all frames of one video land in the same split, so near-duplicate
  frames cannot leak from train into test).
* :func:`carve_validation` moves a fraction of the training rows to ``valid`` (sports balls
  ships only train and test).
* :func:`rebalance_classes` cuts large classes before splitting (study 002).

Both are stratified by class: every class keeps (as nearly as rounding allows) the same
proportions, and classes with at least three samples (or groups) get at least one in each
non-empty split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sports_rec.data.index import SPLITS
from sports_rec.errors import ConfigError


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Integer counts summing to ``n`` that follow ``fractions``; non-zero fractions get at
    least one item when ``n`` allows."""
    raw = np.asarray(fractions, dtype=float) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: n - counts.sum()]:
        counts[i] += 1
    if n >= len(fractions):
        for i, f in enumerate(fractions):
            if f > 0 and counts[i] == 0:
                donor = int(np.argmax(counts))
                counts[donor] -= 1
                counts[i] += 1
    return counts.tolist()


def _check_fractions(fractions: Sequence[float], names: Sequence[str]) -> None:
    if len(fractions) != len(names):
        raise ConfigError(
            f"data.split_fractions needs {len(names)} values for {list(names)}, "
            f"got {list(fractions)}"
        )
    if any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ConfigError(f"data.split_fractions must be >= 0 and sum to 1, got {list(fractions)}")


def _split_units(
    units: pd.DataFrame, fractions: Sequence[float], names: Sequence[str], seed: int
) -> dict[object, str]:
    """Assign each unit (sample or group; columns ``unit``, ``label``, ``size``) a split,
    stratified by label; groups are balanced by their sample counts."""
    rng = np.random.default_rng(seed)
    assignment: dict[object, str] = {}
    for _, per_label in units.sort_values("unit").groupby("label", sort=True):
        order = per_label.iloc[rng.permutation(len(per_label))]
        if (order["size"] == 1).all():
            counts = _allocate(len(order), fractions)
            bounds = np.cumsum([0, *counts])
            for k, name in enumerate(names):
                for unit in order["unit"].iloc[bounds[k] : bounds[k + 1]]:
                    assignment[unit] = name
            continue
        # Groups of different sizes: give each split at least one group when possible,
        # then fill splits greedily towards their share of samples.
        target = np.asarray(fractions) * order["size"].sum()
        target[np.asarray(fractions) == 0] = -np.inf  # never fill a split that is off
        filled = np.zeros(len(names))
        first = [k for k, f in enumerate(fractions) if f > 0][: len(order)]
        for position, (unit, size) in enumerate(zip(order["unit"], order["size"], strict=True)):
            k = first[position] if position < len(first) else int(np.argmax(target - filled))
            assignment[unit] = names[k]
            filled[k] += size
    return assignment


def assign_splits(
    frame: pd.DataFrame,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    mode: str = "grouped",
    group_column: str = "group",
) -> pd.DataFrame:
    """Fill ``split`` for rows where it is missing; rows that have a split keep it.

    Args:
        frame: index table frame.
        fractions: train/valid/test fractions.
        seed: the split seed (independent of the training seed, so runs with different
            training seeds are compared on the same split).
        mode: ``random`` (per sample) or ``grouped`` (per ``group_column`` value).
        group_column: column holding the group (video) id for ``grouped``.
    """
    _check_fractions(fractions, SPLITS)
    if mode not in {"random", "grouped"}:
        raise ConfigError(f"data.split must be random or grouped, got {mode!r}")
    frame = frame.copy()
    todo = frame["split"].isna()
    if not todo.any():
        return frame
    rows = frame[todo]
    if mode == "grouped":
        if group_column not in frame.columns:
            raise ConfigError(
                f"data.split=grouped needs a '{group_column}' column; this dataset's reader "
                "does not provide one: use data.split=random"
            )
        units = (
            rows.groupby(group_column)
            .agg(label=("label", lambda s: s.mode().iloc[0]), size=("label", "size"))
            .reset_index()
            .rename(columns={group_column: "unit"})
        )
        assignment = _split_units(units, fractions, SPLITS, seed)
        frame.loc[todo, "split"] = rows[group_column].map(assignment)
    else:
        units = pd.DataFrame({"unit": rows.index, "label": rows["label"], "size": 1})
        assignment = _split_units(units, fractions, SPLITS, seed)
        frame.loc[todo, "split"] = rows.index.map(assignment)
    return frame


def carve_validation(
    frame: pd.DataFrame,
    fraction: float = 0.1,
    seed: int = 42,
    group_column: str | None = None,
) -> pd.DataFrame:
    """Move a stratified ``fraction`` of the ``train`` rows to ``valid``.

    With ``group_column`` (when the reader provides one) whole groups move together.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"data.val_fraction must be in (0, 1), got {fraction}")
    frame = frame.copy()
    train = frame["split"] == "train"
    carved = assign_splits(
        frame.loc[train].assign(split=None),
        fractions=(1 - fraction, fraction, 0.0),
        seed=seed,
        mode="grouped" if group_column else "random",
        group_column=group_column or "group",
    )
    frame.loc[train, "split"] = carved["split"].to_numpy()
    return frame


def rebalance_classes(
    frame: pd.DataFrame, target: str | int = "median", seed: int = 42
) -> tuple[pd.DataFrame, list[int], list[int]]:
    """Cut every class larger than ``target`` to ``target`` samples (a seeded random subset);
    smaller classes are kept whole. Returns (frame, counts before, counts after) by label.

    This is the dataset-level rebalancing study 002 did *before* its split ("some classes
    were having too many images"), as opposed to the per-epoch samplers. ``target`` is
    ``median`` or ``min`` of the class counts, or a number.
    """
    labels = sorted(frame["label"].unique())
    counts = frame["label"].value_counts()
    before = [int(counts.get(label, 0)) for label in range(max(labels) + 1)]
    present = np.array([counts[label] for label in labels])
    if isinstance(target, int) or str(target).isdigit():
        cap = int(target)
    elif target == "median":
        cap = int(np.median(present))
    elif target == "min":
        cap = int(present.min())
    else:
        raise ConfigError(f"data.rebalance.target must be median, min or a number, got {target!r}")
    if cap < 1:
        raise ConfigError(f"data.rebalance.target must be >= 1, got {cap}")
    rng = np.random.default_rng(seed)
    kept = []
    for label in labels:
        rows = frame.index[frame["label"] == label].to_numpy()
        if len(rows) > cap:
            rows = np.sort(rng.choice(rows, size=cap, replace=False))
        kept.append(rows)
    result = frame.loc[np.sort(np.concatenate(kept))]
    after_counts = result["label"].value_counts()
    after = [int(after_counts.get(label, 0)) for label in range(len(before))]
    return result, before, after
