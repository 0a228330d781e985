"""The W&B logger of ``logger=wandb``: Lightning's, minus a warning it makes W&B print.

Lightning passes ``anonymous=None`` to ``wandb.init`` on every run, which W&B answers with
"The anonymous setting has no effect and will be removed"; a setting nobody set is simply
not passed here. Its own module, imported only when the W&B logger is configured, so a run
without W&B never loads Lightning's W&B module.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers.wandb import WandbLogger


class QuietWandbLogger(WandbLogger):
    """``lightning.pytorch.loggers.WandbLogger`` without ``anonymous=None`` (see above)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
