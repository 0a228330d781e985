"""The local web app, ``python -m sports_rec.app ckpt_path=A.ckpt`` (README "See a model work").

One page for one or several checkpoints, each loaded once: image models take photos (or a
sample of their test split) and show top-k bars, the attribution map over the photo and,
for image + keypoints nets, the skeleton they were given; clip models take a video and show
the exercise timeline, the segments, the annotated video and a GradCAM video of a chosen
moment; the compare tab puts every model's answer to one input beside each run's test
metrics and per-class accuracy.

The work is the project's own: predictions come from :mod:`sports_rec.predicting` (the code
``predict`` runs), maps from :mod:`sports_rec.explaining`, and what a checkpoint gets is
chosen by its modality (:mod:`sports_rec.modalities`, via :mod:`.kinds`). Modules:

* :mod:`.sources` - which checkpoints (``ckpt_path`` / ``ckpt_paths`` / ``run_dirs``) and
  what their run folders say (test metrics, per-class table);
* :mod:`.models` - each checkpoint loaded once, on the chosen device;
* :mod:`.images`, :mod:`.clips` - what the page shows for image and clip models;
* :mod:`.compare` - the tables across models;
* :mod:`.ui` and :mod:`.launch` - the Gradio page and the local server (the only modules
  that import gradio, the optional ``app`` extra).
"""

from __future__ import annotations

import os
from types import ModuleType

from sports_rec.errors import SportsRecError

INSTALL_HINT = (
    "the app needs gradio, the optional 'app' extra: make install, or "
    "pip install -e '.[app]' (or pip install 'gradio>=6,<7')"
)


class AppUnavailable(SportsRecError, ImportError):
    """gradio (the ``app`` extra) is not installed."""


def require_gradio() -> ModuleType:
    """The gradio module (its usage analytics off: the app contacts nobody), or
    :class:`AppUnavailable` saying how to install it."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError:
        raise AppUnavailable(INSTALL_HINT) from None
    return gradio
