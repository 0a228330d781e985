"""What every entry point does around its real work.

* :func:`task_wrapper` - always finishes the W&B run (also on errors and inside sweeps, so
  one job's failure never leaks its run into the next job) and always ends with the line
  ``Run folder: <path>``; :func:`exit_on_user_error` turns expected errors into a message
  and exit status 1 on the command line.
* :func:`print_config_tree` - the composed config as a rich tree, also saved to the run.
* :func:`instantiate_callbacks` / :func:`instantiate_loggers` - build the dict-of-configs
  groups ``callbacks`` and ``logger``.
* :func:`lightning_noise_filtered` - around ``trainer.fit``/``test``: hides warnings Lightning
  emits about its own internals, which no user can act on.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import rich
import rich.syntax
import rich.tree
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sports_rec.errors import SportsRecError
from sports_rec.utils.logging import get_logger, global_rank

log = get_logger(__name__)


def finish_wandb() -> None:
    """Close an open W&B run, if W&B was used at all."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        log.info("Closing the W&B run")
        wandb.finish()


def run_folder(cfg: DictConfig) -> str:
    return str(Path(cfg.paths.output_dir).resolve())


def unwrap_user_error(error: BaseException) -> SportsRecError | None:
    """The :class:`SportsRecError` behind ``error``, if any.

    Hydra's ``instantiate`` wraps whatever a ``_target_`` raises in an
    ``InstantiationException``; an expected error (an unknown model name, a freeze policy
    that does not exist) must still reach the user as its own message.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, SportsRecError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def task_wrapper(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap an entry point's task: finish W&B and print the run folder, whatever happens.

    An expected error wrapped by a library is re-raised as itself (see
    :func:`unwrap_user_error`), so callers and the command line see its class and message.
    """

    @functools.wraps(task)
    def wrapped(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except Exception as error:
            user_error = unwrap_user_error(error)
            if user_error is None:
                log.error(
                    "Task failed (%s); outputs so far are in the run folder", type(error).__name__
                )
                raise
            log.error("%s", user_error)
            if user_error is error:
                raise
            raise user_error from user_error.__cause__
        finally:
            finish_wandb()
            if global_rank() == 0:
                print(f"Run folder: {run_folder(cfg)}", flush=True)

    return wrapped


# What Hydra reads as an unquoted override value (ASCII; no space, '=', quote or bracket).
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./:+~-]+")


def override_argument(key: str, value: str | Path) -> str:
    """``key=value`` as one shell word Hydra reads: as it is for a plain value, else
    ``'key="value"'`` (double quotes for Hydra, single quotes for the shell)."""
    text = str(value)
    if _PLAIN_VALUE.fullmatch(text):
        return f"{key}={text}"
    return "'" + key + '="' + text.replace('"', '\\"') + "\"'"


def app_hint(run_dir: str | Path, tested: str | Path | None) -> str | None:
    """``Try it: python -m sports_rec.app ckpt_path=...``, the line a training run ends
    with: the web app on the run's tested checkpoint (else its ``last.ckpt``); None when
    the run kept no checkpoint."""
    candidates = [Path(tested)] if tested else []
    candidates.append(Path(run_dir) / "checkpoints" / "last.ckpt")
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        return None
    return f"Try it: python -m sports_rec.app {override_argument('ckpt_path', found)}"


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """In a command-line entry point: an expected error (already logged with its message by
    :func:`task_wrapper`) ends the process with status 1 instead of a stack trace."""
    try:
        yield
    except Exception as error:
        if unwrap_user_error(error) is None:
            raise
        sys.exit(1)


@contextlib.contextmanager
def lightning_noise_filtered() -> Iterator[None]:
    """Silence Lightning's warnings about its own internals for the duration of a loop.

    Lightning 2.6 on torch 2.14 warns at every loop start about its use of torch's private
    pytree API, and under bf16-mixed (the default on AMX CPUs) that its model summary sizes
    parameters at 32 bits, which they are; both bury the messages that matter. Filtered
    here, around the loops, rather than for the whole process at import.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
        warnings.filterwarnings("ignore", message=r"Precision bf16-mixed is not supported by")
        yield


def print_config_tree(
    cfg: DictConfig,
    order: Sequence[str] = (
        "data",
        "transforms",
        "model",
        "loss",
        "sampler",
        "optimizer",
        "scheduler",
        "trainer",
        "callbacks",
        "logger",
        "paths",
    ),
    save_to: str | Path | None = None,
) -> None:
    """Print the config as a rich tree (rank zero) and optionally save it as text."""
    if global_rank() != 0:
        return
    tree = rich.tree.Tree("CONFIG", style="dim", guide_style="dim")
    keys = [k for k in order if k in cfg] + [k for k in cfg if k not in order and k != "hydra"]
    for key in keys:
        branch = tree.add(str(key), style="bold", guide_style="dim")
        node = cfg[key]
        text = OmegaConf.to_yaml(node, resolve=True) if isinstance(node, DictConfig) else str(node)
        branch.add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)
    if save_to is not None:
        with open(save_to, "w") as handle:
            rich.print(tree, file=handle)


def _instantiate_group(group: DictConfig | None, kind: str) -> list[Any]:
    objects: list[Any] = []
    if not group:
        return objects
    if not isinstance(group, DictConfig):
        raise TypeError(f"{kind} config must be a mapping of name -> config")
    for name, conf in group.items():
        if isinstance(conf, DictConfig) and "_target_" in conf:
            log.info("Instantiating %s <%s> (%s)", kind, conf._target_, name)
            objects.append(instantiate(conf))
    return objects


def instantiate_callbacks(cfg: DictConfig | None) -> list[Any]:
    return _instantiate_group(cfg, "callback")


def instantiate_loggers(cfg: DictConfig | None) -> list[Any]:
    return _instantiate_group(cfg, "logger")
