"""Checks of a composed training config, run before any data is read or net is built.

Some values compose fine but train nothing (``optimizer.lr=0``, ``data.batch_size=0``,
``trainer.max_epochs=0``) or fail deep inside a library with a message that does not name
the key (``data.batch_size=abc``). Every problem found is listed in one
:class:`~sports_rec.errors.ConfigError`, each line naming the key, the value and the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sports_rec.errors import ConfigError

TEST_CHECKPOINTS = ("best", "best_loss", "last", "none")
METRIC_STAGES = ("train", "val", "test")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any) -> bool:
    return _is_int(value) and value > 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive_number(value: Any) -> bool:
    return _is_number(value) and value > 0


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _max_epochs(cfg: DictConfig) -> Callable[[Any], bool]:
    max_steps = OmegaConf.select(cfg, "trainer.max_steps", default=-1)
    # -1 means "until max_steps" in Lightning; only valid when max_steps bounds the run.
    return lambda v: _positive_int(v) or (v == -1 and _positive_int(max_steps))


Rule = tuple[str, Callable[[Any], bool], str]


def invalid_values(cfg: DictConfig, rules: list[Rule]) -> list[str]:
    """One line per ``(key, check, expected)`` rule whose value in ``cfg`` fails its check
    (keys absent from ``cfg`` are skipped: each entry point has its own keys)."""
    problems = []
    missing = object()
    for key, valid, expected in rules:
        value = OmegaConf.select(cfg, key, default=missing)
        if value is missing:
            continue
        if not valid(value):
            problems.append(f"  {key}={value!r}: must be {expected}")
    return problems


def check_explain_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for values of ``explain`` that would explain nothing, or
    something else than asked: ``num_samples=0`` used to explain one sample silently."""
    rules: list[Rule] = [
        ("num_samples", _positive_int, "an integer >= 1 (samples explained)"),
        ("batch_size", _positive_int, "an integer >= 1"),
        ("steps", _positive_int, "an integer >= 1 (integrated gradients' steps)"),
        ("fps", _positive_number, "a number > 0 (frames per second of the videos)"),
        ("alpha", lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
        ("long_sample.frames", _positive_int, "an integer >= 1"),
        ("long_sample.stride", _positive_int, "an integer >= 1"),
        ("long_sample.start_frame", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    ]
    problems = invalid_values(cfg, rules)
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(problems))


def check_train_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` listing every invalid value of a training config."""
    fast_dev_run = OmegaConf.select(cfg, "trainer.fast_dev_run", default=False)
    rules: list[Rule] = [
        ("optimizer.lr", _positive_number, "a number > 0 (with 0 nothing trains)"),
        ("data.batch_size", _positive_int, "an integer >= 1"),
        ("data.global_batch_size", _optional(_positive_int), "null or an integer >= 1"),
        ("data.eval_batch_size", _optional(_positive_int), "null or an integer >= 1"),
        (
            "data.num_workers",
            _optional(lambda v: _is_int(v) and v >= 0),
            "null (chosen from the machine) or an integer >= 0",
        ),
        ("data.image_size", _positive_int, "an integer >= 1 (pixels)"),
        ("seed", _is_int, "an integer"),
        ("test_ckpt", lambda v: str(v) in TEST_CHECKPOINTS, f"one of {TEST_CHECKPOINTS}"),
    ]
    if not fast_dev_run:
        rules.append(
            ("trainer.max_epochs", _max_epochs(cfg), "an integer >= 1 (-1 only with max_steps)")
        )
    problems = invalid_values(cfg, rules)
    untrained = list(cfg.get("evaluate_untrained") or [])
    if untrained and cfg.get("train", True):
        problems.append(
            "  evaluate_untrained: only with train=false (a baseline that is not trained)"
        )
    unknown = [split for split in untrained if split not in ("train", "valid", "test")]
    if unknown:
        problems.append(f"  evaluate_untrained={unknown}: splits are train, valid, test")
    metric = cfg.get("optimized_metric")
    if metric is not None and str(metric).split("/", 1)[0] not in METRIC_STAGES:
        problems.append(
            f"  optimized_metric={metric!r}: must name a logged metric such as val/acc, "
            "val/loss or test/acc"
        )
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(problems))


def optimized_value(metrics: dict[str, float], name: str | None) -> float | None:
    """The value a hyper-parameter sweeper optimises; a name no run logged is an error."""
    if name is None:
        return None
    if name not in metrics:
        available = ", ".join(sorted(metrics)) or "none"
        raise ConfigError(
            f"optimized_metric={name!r} is not a metric of this run; available: {available}"
        )
    return float(metrics[name])


def required_checkpoint(cfg: DictConfig, command: str) -> str:
    """``cfg.ckpt_path``, or one clear error when it was not given (instead of OmegaConf's
    ``MissingMandatoryValue`` traceback): the checkpoint holds the classes, the
    preprocessing and the net, so every command after training starts from it."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.get("ckpt_path"):
        extra = (
            "; model_file= only swaps its net for an exported one, the checkpoint still says "
            "what the classes and the preprocessing are"
            if command == "predict"
            else ""
        )
        raise ConfigError(
            f"ckpt_path is required: python -m sports_rec.{command} "
            f"ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt ...{extra}"
        )
    return str(cfg.ckpt_path)
