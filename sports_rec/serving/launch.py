"""Start the app: load the checkpoints once, build the page, serve it on this machine.

The server listens on ``app.host`` (``127.0.0.1``: only this machine can open the page)
unless ``app.share_local_network=true`` says to listen on every interface (``0.0.0.0``),
so anyone on the local network reaches it; a host other than the loopback without that
flag is refused. Gradio's public share links are never used. Requests go through Gradio's
queue, ``app.concurrency`` at a time (1: two users cannot run out of memory together),
at most ``app.queue_size`` waiting; uploads are capped at ``app.max_file_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from sports_rec.errors import ConfigError
from sports_rec.serving import require_gradio
from sports_rec.serving.models import check_device, load_models
from sports_rec.serving.session import AppSettings, Session
from sports_rec.serving.sources import checkpoint_sources
from sports_rec.serving.ui import CSS, build_app

LOOPBACK = ("127.0.0.1", "localhost", "::1")
EVERY_INTERFACE = "0.0.0.0"


def server_host(app_cfg: DictConfig) -> str:
    """The address to listen on (see the module docstring)."""
    host = str(app_cfg.get("host") or "127.0.0.1")
    if app_cfg.get("share_local_network"):
        return EVERY_INTERFACE if host in LOOPBACK else host
    if host not in LOOPBACK:
        raise ConfigError(
            f"app.host={host} would serve the app to other machines; it listens on 127.0.0.1 "
            "unless app.share_local_network=true says to open it to the local network"
        )
    return host


@dataclass
class RunningApp:
    """A started app: its page's address, the Gradio Blocks and the session behind it."""

    url: str
    demo: Any
    session: Session

    def close(self) -> None:
        self.demo.close()


def start_app(cfg: DictConfig, block: bool = True) -> RunningApp:
    """Load, build and serve; with ``block`` until Ctrl+C, else in the background (tests:
    ``RunningApp.close()`` stops it)."""
    gr = require_gradio()
    host = server_host(cfg.app)
    device = check_device(cfg.get("device", "cpu"))
    sources = checkpoint_sources(cfg.get("ckpt_path"), cfg.get("ckpt_paths"), cfg.get("run_dirs"))
    models, failed = load_models(sources, device)
    workdir = Path(cfg.paths.output_dir)
    session = Session(models, failed, AppSettings.from_config(cfg), workdir)
    for model in models:
        print(f"Loaded {model.describe()}", flush=True)
    for model in failed:
        print(f"Not loaded: {model.name}: {model.message}", flush=True)
    reach = (
        "open to the local network (app.share_local_network=true)"
        if host == EVERY_INTERFACE or host not in LOOPBACK
        else "this machine only; app.share_local_network=true opens it to the local network"
    )
    concurrency = int(cfg.app.concurrency)
    at_a_time = "one at a time" if concurrency == 1 else f"{concurrency} at a time"
    demo = build_app(session, f"Served on {host} ({reach}). Requests run {at_a_time}.", concurrency)
    demo.queue(
        max_size=int(cfg.app.queue_size),
        default_concurrency_limit=concurrency,
    )
    port = cfg.app.get("port")
    theme = gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    )
    try:
        _, url, _ = demo.launch(
            server_name=host,
            server_port=None if port in (None, "") else int(port),
            prevent_thread_lock=True,
            share=False,
            inbrowser=bool(cfg.app.get("open_browser", False)),
            allowed_paths=[str(workdir.resolve())],
            max_file_size=cfg.app.get("max_file_size"),
            ssr_mode=False,
            mcp_server=False,
            quiet=True,
            theme=theme,
            css=CSS,
        )
    except OSError as error:
        raise ConfigError(
            f"cannot serve on {host}:{port} ({error}): choose another app.port, or app.port=null "
            "for the first free one from 7860"
        ) from None
    shown = str(url).replace(EVERY_INTERFACE, "127.0.0.1")
    print(
        f"The app is at {shown} ({reach}); Ctrl+C stops it. Requests are written to "
        f"{workdir / 'requests'}",
        flush=True,
    )
    running = RunningApp(shown, demo, session)
    if block:
        try:
            demo.block_thread()
        finally:
            demo.close()
    return running
