"""Modalities: what predict and explain do for each kind of input (see :mod:`.base`).

The built-in ones are registered here, most specific first: video clips (``video``),
images with keypoints (``image`` and more), images (``image``). Add one with
:func:`register_modality` (README "Adding a modality").
"""

from sports_rec.modalities.base import (
    ExplainedSample,
    Modality,
    PredictJob,
    modality_for,
    register_modality,
    registered_modalities,
    unregister_modality,
)
from sports_rec.modalities.image import ImageModality
from sports_rec.modalities.keypoint_image import KeypointImageModality
from sports_rec.modalities.video import VideoClipModality

for _builtin in (ImageModality(), KeypointImageModality(), VideoClipModality()):
    register_modality(_builtin)

__all__ = [
    "ExplainedSample",
    "ImageModality",
    "KeypointImageModality",
    "Modality",
    "PredictJob",
    "VideoClipModality",
    "modality_for",
    "register_modality",
    "registered_modalities",
    "unregister_modality",
]
