"""What serves a checkpoint in the app, chosen by its modality (never by input names).

A :class:`Kind` says which tab a model belongs to (``takes``: a user gives it ``image``\\s or
a ``video``) and holds what that tab does with it (:mod:`.images`, :mod:`.clips`). Kinds are
registered per :class:`~sports_rec.modalities.Modality` class; a modality is served by the
kind registered for it or for its nearest base class, so a project's own modality that
extends the image one gets the image tab. One with no kind is listed as not servable.
"""

from __future__ import annotations

from typing import ClassVar

from sports_rec.errors import ConfigError
from sports_rec.modalities import Modality


class Kind:
    """The app's side of one modality (see the module docstring)."""

    takes: ClassVar[str]  # "image" | "video"
    shows_skeleton: ClassVar[bool] = False


_KINDS: dict[type[Modality], Kind] = {}


def register_kind(modality: type[Modality], kind: Kind) -> Kind:
    """Serve the checkpoints of ``modality`` (and of its subclasses without a kind of their
    own) with ``kind``."""
    _KINDS[modality] = kind
    return kind


def kind_for(modality: Modality) -> Kind:
    """The kind registered for ``modality``'s class or its nearest base class."""
    for cls in type(modality).__mro__:
        if cls in _KINDS:
            return _KINDS[cls]
    raise ConfigError(
        f"the app has no view for {modality.name} models (registered: "
        f"{', '.join(sorted(m.__name__ for m in _KINDS)) or 'none'}); add one with "
        "sports_rec.serving.kinds.register_kind"
    )
