"""Explain settings from the training recipe: the ``explain:`` node of a run's config.

A study may state how it explains its model (study 004's ``visualize_gradcam.py``: 20
samples, videos at 10 fps); its recipe records that as ``explain: {num_samples: 20, fps:
10}``. ``python -m sports_rec.explain ckpt_path=<run>/checkpoints/x.ckpt`` then reads the
run's ``.hydra/config.yaml`` (the folder above ``checkpoints/``) and takes each of those
values that the command line does not give: the command line wins, then the recipe, then
``explain.yaml``'s defaults. A checkpoint outside its run folder gets the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

#: The explain settings a recipe may give (``explain.<key>`` in the training config).
RECIPE_KEYS: tuple[str, ...] = (
    "method",
    "num_samples",
    "misclassified_only",
    "target",
    "layer",
    "steps",
    "alpha",
    "fps",
    "long_sample.frames",
    "long_sample.stride",
)


def run_config_path(ckpt_path: str | Path) -> Path:
    """The training config of the run a checkpoint belongs to (it may not exist)."""
    return Path(ckpt_path).expanduser().resolve().parent.parent / ".hydra" / "config.yaml"


def command_line_keys() -> set[str]:
    """The keys given on this command line (``+``/``~`` dropped); empty outside Hydra."""
    if not HydraConfig.initialized():
        return set()
    task = OmegaConf.select(HydraConfig.get(), "overrides.task", default=None) or []
    return {str(line).split("=", 1)[0].lstrip("+~") for line in task}


def recipe_settings(ckpt_path: str | Path) -> dict[str, Any]:
    """``{key: value}`` of :data:`RECIPE_KEYS` in the run's ``explain:`` node, if any."""
    path = run_config_path(ckpt_path)
    try:
        config = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError) as error:
        log.warning("Cannot read %s (%s): explain's own defaults apply", path, error)
        return {}
    node = config.get("explain") if isinstance(config, dict) else None
    if not isinstance(node, dict):
        return {}
    found = {}
    for key in RECIPE_KEYS:
        value: Any = node
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            found[key] = value
    return found


def apply_recipe_settings(cfg: DictConfig) -> dict[str, Any]:
    """Set in ``cfg`` each recipe setting of the checkpoint's run that the command line
    leaves out; returns those applied."""
    given = command_line_keys()
    applied = {
        key: value
        for key, value in recipe_settings(cfg.ckpt_path).items()
        if key not in given and OmegaConf.select(cfg, key, default=None) != value
    }
    if applied:
        with open_dict(cfg):
            for key, value in applied.items():
                OmegaConf.update(cfg, key, value, merge=False)
        log.info(
            "Explain settings from the run's recipe (%s): %s (give them on the command line "
            "to change them)",
            run_config_path(cfg.ckpt_path),
            ", ".join(f"{k}={v}" for k, v in applied.items()),
        )
    return applied
