"""OmegaConf resolvers used by ``conf/``.

* ``${cwd:}`` - the directory the command was started from. Hydra 1.3 no longer changes
  directory, so data and logs land beside the user's shell, like any other CLI.
* ``${uid:}`` - a short random id, cached per config like Hydra's ``${now:}``, appended to
  run folders so two jobs started in the same second never share (and overwrite) a folder.
* ``${wandb_offline:}`` - True unless the user has configured W&B (API key in the
  environment or in ``~/.netrc``) or explicitly set ``WANDB_MODE=online``.
* ``${mixed_precision:}`` - ``bf16-mixed`` on GPUs with bfloat16 (Ampere and later: the
  range of fp32, no loss scaling), else ``16-mixed``; resolved when the trainer is built,
  i.e. on the machine that trains (a SLURM node, not the login node).
* ``${auto_precision:<accelerator>}`` - the default trainer's precision: on a GPU (or
  ``auto`` where CUDA is present) what ``${mixed_precision:}`` picks; on a CPU with native
  bfloat16 (AMX / AVX512-BF16) ``bf16-mixed``, 2-2.5x faster there
  (:mod:`sports_rec.models.fast_paths`); anywhere else ``32-true``.
"""

from __future__ import annotations

import netrc
import os
import secrets

from omegaconf import OmegaConf


def _wandb_offline() -> bool:
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in {"offline", "disabled", "dryrun"}:
        return True
    if mode == "online" or os.environ.get("WANDB_API_KEY"):
        return False
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return True


def _mixed_precision() -> str:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False):
        return "bf16-mixed"
    return "16-mixed"


def _auto_precision(accelerator: str = "auto") -> str:
    import torch

    from sports_rec.utils.hardware import cpu_computes_bf16

    accelerator = str(accelerator).lower()
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return _mixed_precision()
    if accelerator in ("cpu", "auto") and cpu_computes_bf16():
        return "bf16-mixed"
    return "32-true"


IMAGE_DATASETS = {
    False: "sports_rec.data.datasets.ImageDataset",
    True: "sports_rec.data.datasets.KeypointImageDataset",
}


def _image_dataset_class(keypoints: object) -> str:
    """The image dataset class for ``data.dataset.keypoints``: images + keypoints when they
    are estimated (``estimate`` or a mapping), images alone when null."""
    return IMAGE_DATASETS[keypoints not in (None, "", "null")]


def register_resolvers() -> None:
    """Register the resolvers once; safe to call repeatedly."""
    resolvers = {
        "cwd": (os.getcwd, False),
        "uid": (lambda: secrets.token_hex(3), True),
        "wandb_offline": (_wandb_offline, False),
        "mixed_precision": (_mixed_precision, False),
        "auto_precision": (_auto_precision, False),
        "image_dataset_class": (_image_dataset_class, False),
    }
    for name, (fn, use_cache) in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=use_cache)
