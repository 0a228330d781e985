"""See a model work: ``python -m sports_rec.app ckpt_path=A.ckpt`` serves a local web page.

``ckpt_paths=[A.ckpt,B.ckpt]`` serves several checkpoints side by side, ``run_dirs=[DIR]``
each run's tested checkpoint of run or sweep folders. Photos go to image models (top-k, the
attribution map, the skeleton of fusion nets; or a sample of the test split with its true
label), videos to clip models (the exercise timeline, its segments, the annotated video, a
GradCAM video of a moment); the compare tab shows every model on one input beside each
run's test metrics and per-class accuracy. The page is served on 127.0.0.1 (this machine
only; ``app.share_local_network=true`` opens it to the local network) at ``app.port``, the
models on ``device`` (cpu; cuda where there is one), loaded once; requests are queued.

Needs the optional ``app`` extra (gradio): without it the command says how to install it.
Everything it does is in :mod:`sports_rec.serving`.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.serving import AppUnavailable, require_gradio
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.run import exit_on_user_error, task_wrapper


@task_wrapper
def app(cfg: DictConfig) -> None:
    """Serve the checkpoints of ``cfg`` until Ctrl+C."""
    from sports_rec.serving.launch import start_app  # after the gradio check: torch, gradio

    start_app(cfg, block=True)


@hydra_entry_point("app")
def hydra_main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        app(cfg)


def main() -> None:
    """Console entry point (``python -m sports_rec.app``, ``sports-rec-app``)."""
    try:
        require_gradio()
    except AppUnavailable as error:
        print(f"sports_rec.app: {error}", file=sys.stderr)
        sys.exit(1)
    hydra_main()


if __name__ == "__main__":
    main()
