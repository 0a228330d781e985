"""Image models in the app: top-k labels, the attribution map over the photo and, for
image + keypoints nets, the skeleton they were given.

Labels come from ``predict``'s own code for the checkpoint's modality
(:func:`~sports_rec.predicting.images.predict_files` for image nets, an estimated or
annotated sample table through :func:`~sports_rec.predicting.annotations.predict_table` for
fusion nets), so the page and ``predict``'s CSV agree for the same file. The map is
``explain``'s (:func:`~sports_rec.explaining.attribution.attribute`) for the top label, on
the sample as the checkpoint's dataset class prepares it, and is drawn over the photo at
the photo's own size (at most :data:`DISPLAY_MAX_SIDE`): resized onto the region the eval
transform keeps (:func:`view_box`; a centre crop cuts the long side), the rest dimmed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import torch
from hydra.utils import instantiate
from PIL import Image

from sports_rec.data.io.image_io import ImageDecodeError, load_image
from sports_rec.errors import SportsRecError
from sports_rec.explaining.attribution import attribute, check_method
from sports_rec.explaining.panels import overlay
from sports_rec.pose_estimation.drawing import draw_pose
from sports_rec.predicting.annotations import estimated_photo_table, predict_table
from sports_rec.predicting.images import predict_files
from sports_rec.predicting.inputs import VIDEO_SUFFIXES, is_video_path
from sports_rec.serving.kinds import Kind

if TYPE_CHECKING:
    from sports_rec.serving.models import ServedModel

#: Photos are shown (and their maps drawn) at most this many pixels on the long side.
DISPLAY_MAX_SIDE = 1600
#: Brightness kept outside the region the model sees.
DIMMED = 0.45


class ImageInputError(SportsRecError, ValueError):
    """The file given to an image model cannot be used (unreadable, or a video)."""


@dataclass
class ImageItem:
    """One input of the image tab: a photo, or a sample of a checkpoint's test split (its
    row of the split's table: keypoints, avatar crop ...) with its true label."""

    path: Path
    name: str
    true_label: str | None = None
    row: dict[str, Any] | None = None


@dataclass
class ImagePrediction:
    """One model's answer for one item: the top-k labels (most likely first) or the error,
    and the sample as the model's dataset reads it (to explain it)."""

    item: ImageItem
    entries: dict[str, float] = field(default_factory=dict)
    error: str = ""
    row: dict[str, Any] = field(default_factory=dict)
    data_cfg: dict[str, Any] = field(default_factory=dict)
    keypoints_from: str | None = None

    @property
    def top(self) -> tuple[str, float] | None:
        return next(iter(self.entries.items()), None)


@dataclass
class ImageExplanation:
    """The map over the photo (uint8 RGB, the photo's size), the skeleton the net was given
    (fusion nets) and how the map was made."""

    overlay: np.ndarray
    skeleton: np.ndarray | None
    method: str
    layer: str | None = None


def readable_image(path: Path) -> None:
    """Raise :class:`ImageInputError` unless ``path`` decodes as an image."""
    if is_video_path(path):
        raise ImageInputError(
            f"'{path.name}' is a video; image models classify photos (give a video to a clip "
            f"model: {', '.join(sorted(VIDEO_SUFFIXES))})"
        )
    try:
        load_image(path, max_side=64)
    except ImageDecodeError as error:
        raise ImageInputError(f"'{path.name}' cannot be read as an image: {error.reason}") from None


def _entries(row: Mapping[str, Any]) -> dict[str, float]:
    entries: dict[str, float] = {}
    rank = 1
    while f"label_{rank}" in row:
        label = row[f"label_{rank}"]
        if isinstance(label, str):
            entries[label] = float(row[f"prob_{rank}"])
        rank += 1
    return entries


def _error(row: Mapping[str, Any]) -> str:
    value = row.get("error")
    return value if isinstance(value, str) else ""


class ImageKind(Kind):
    """Image nets (``image`` input): photos as ``predict`` reads them."""

    takes: ClassVar[str] = "image"

    def predict(
        self, served: ServedModel, items: Sequence[ImageItem], top_k: int, batch_size: int = 16
    ) -> list[ImagePrediction]:
        """Each item's top-k labels, by ``predict``'s code for image files."""
        table = predict_files(
            [item.path for item in items],
            served.runner,
            served.transform,
            served.class_names,
            served.metadata.channels,
            served.metadata.image_size,
            top_k=top_k,
            batch_size=batch_size,
            num_workers=0,
        )
        data_cfg = dict(served.metadata.data)
        return [
            ImagePrediction(
                item,
                _entries(row),
                _error(row),
                row={"path": str(item.path), "label": 0},
                data_cfg=data_cfg,
            )
            for item, row in zip(items, table.to_dict("records"), strict=True)
        ]

    def explain(
        self, served: ServedModel, prediction: ImagePrediction, method: str, alpha: float = 0.5
    ) -> ImageExplanation:
        """The map of the top label over the photo (see the module docstring)."""
        check_method(method)
        top = prediction.top
        if top is None:
            raise ImageInputError(prediction.error or "nothing was predicted for this input")
        options = dict(prediction.data_cfg["dataset"])
        if options.get("cache"):  # one sample: no image cache written on the app's behalf
            options["cache"] = False
        make = instantiate(options)
        dataset = make(
            frame=pd.DataFrame([prediction.row]),
            transform=served.transform,
            train=False,
            checked=True,
        )
        sample = dataset[0]
        inputs = {
            key: torch.as_tensor(sample[key])[None].float().to(served.device)
            for key in served.model.input_keys
        }
        target = torch.tensor([served.class_names.index(top[0])], device=served.device)
        result = attribute(served.model.net, inputs, served.model.input_keys, target, method)
        photo, keypoints = display_photo(prediction.row)
        box = view_box(served.metadata.eval_transform, photo.shape[1], photo.shape[0])
        drawn = overlay_in_box(photo, result.maps[0], box, alpha)
        skeleton = None
        if self.shows_skeleton and keypoints is not None:
            skeleton = draw_pose(photo, keypoints)
        return ImageExplanation(drawn, skeleton, method, result.layer)


class KeypointImageKind(ImageKind):
    """Image + keypoints nets: a test-split sample keeps its annotated keypoints (and avatar
    crop); a photo gets the pose backend's estimate, as ``predict`` gives it."""

    shows_skeleton: ClassVar[bool] = True

    def predict(
        self, served: ServedModel, items: Sequence[ImageItem], top_k: int, batch_size: int = 16
    ) -> list[ImagePrediction]:
        data_cfg = {**served.metadata.data, "inputs": list(served.model.input_keys)}
        annotated = [i for i, item in enumerate(items) if item.row and "keypoints" in item.row]
        photos = [i for i in range(len(items)) if i not in annotated]
        found: dict[int, ImagePrediction] = {}
        groups = []
        if photos:
            frame, photo_cfg = estimated_photo_table([items[i].path for i in photos], data_cfg)
            groups.append((photos, frame, photo_cfg))
        if annotated:
            dataset = {k: v for k, v in data_cfg["dataset"].items() if k != "keypoints"}
            rows = [{**(items[i].row or {}), "keypoints_from": "annotated"} for i in annotated]
            groups.append((annotated, pd.DataFrame(rows), {**data_cfg, "dataset": dataset}))
        for indices, frame, cfg in groups:
            table = predict_table(
                frame,
                served.model,
                served.runner,
                cfg,
                served.transform,
                top_k=top_k,
                batch_size=batch_size,
            )
            # predict_table keeps the frame's order (by path); one row per sample here
            for index, sample, row in zip(
                indices, frame.to_dict("records"), table.to_dict("records"), strict=True
            ):
                found[index] = ImagePrediction(
                    items[index],
                    _entries(row),
                    _error(row),
                    row=sample,
                    data_cfg=cfg,
                    keypoints_from=sample.get("keypoints_from"),
                )
        return [found[i] for i in range(len(items))]


def test_split_items(served: ServedModel, workdir: Path, limit: int) -> list[ImageItem]:
    """Up to ``limit`` samples of the checkpoint's test split (rebuilt from the checkpoint as
    ``evaluate`` does; round-robin over the true classes, as ``explain`` takes them), each
    with its true label and its row of the split's table. Raises a ``SportsRecError`` when
    the split cannot be rebuilt here (the data is not on this machine ...)."""
    from omegaconf import OmegaConf

    from sports_rec.builders import checkpoint_datamodule
    from sports_rec.explaining.samples import class_round_robin
    from sports_rec.utils.run import lightning_noise_filtered

    root = served.metadata.data.get("root")
    if not root or not Path(str(root)).exists():
        raise ImageInputError(
            f"the test split of {served.name} is not on this machine (data.root '{root}' does "
            "not exist): drop photos instead"
        )
    # not decoded at start-up (a large split would delay the page): a bad file is a message
    # when picked
    quick = OmegaConf.create({"check_images": False, "num_workers": 0})
    datamodule = checkpoint_datamodule(served.metadata, quick, str(workdir))
    with lightning_noise_filtered():
        datamodule.prepare_data()
        datamodule.setup()
    dataset = datamodule.eval_dataloader("test").dataset
    frame = dataset.frame
    names = served.class_names
    items = []
    for index in class_round_robin(list(dataset.labels))[: max(0, int(limit))]:
        row = frame.iloc[index].to_dict()
        true = names[int(row["label"])]
        path = Path(str(row["path"]))
        shown = f"{true} | {path.parent.name}/{path.name}"
        if "annotation_id" in row and row.get("num_avatars", 1) not in (1, None):
            shown += f" #{row['annotation_id']}"
        items.append(ImageItem(path, shown, true, row))
    return items


def display_photo(row: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """The sample's photo as shown (uint8 RGB, its avatar crop if it has one, at most
    :data:`DISPLAY_MAX_SIDE` px) and its keypoints (``[17, 3]``) in that image's pixels."""
    image = load_image(row["path"], "RGB")
    keypoints = row.get("keypoints")
    points = None if keypoints is None else np.asarray(keypoints, np.float32).reshape(-1, 3).copy()
    crop = row.get("crop")
    if crop is not None and not (isinstance(crop, float) and np.isnan(crop)):
        x0, y0, x1, y1 = (round(float(v)) for v in list(crop)[:4])
        image = image.crop((x0, y0, x1, y1))
        if points is not None:
            placed = points[:, 2] > 0
            points[placed, 0] -= x0
            points[placed, 1] -= y0
    scale = min(1.0, DISPLAY_MAX_SIDE / max(image.size))
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.BILINEAR)
        if points is not None:
            points[:, :2] *= scale
    return np.asarray(image.convert("RGB")), points


def view_box(
    eval_transform: Mapping[str, Any] | None, width: int, height: int
) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: the part of a ``width x height`` image the eval transform keeps.

    The image transforms (ours and timm's) resize the shorter side to ``size / crop_pct``
    and cut the centre ``size`` square, so with ``crop_pct < 1`` the model sees a centred
    square of ``short_side * size / round(size / crop_pct)`` pixels; with ``crop_pct`` 1 or
    none it sees the whole image, stretched to a square.
    """
    spec = dict(eval_transform or {})
    size, crop_pct = spec.get("size"), spec.get("crop_pct")
    if not size or not crop_pct or float(crop_pct) >= 1.0:
        return 0, 0, width, height
    side = min(width, height) * int(size) / round(int(size) / float(crop_pct))
    x0, y0 = round((width - side) / 2), round((height - side) / 2)
    return x0, y0, max(x0 + 1, round(x0 + side)), max(y0 + 1, round(y0 + side))


def overlay_in_box(
    photo: np.ndarray, attribution: np.ndarray, box: tuple[int, int, int, int], alpha: float
) -> np.ndarray:
    """``photo`` with the 0-1 ``attribution`` (the model's view) blended over ``box``,
    resized to it; outside the box the photo is dimmed."""
    x0, y0, x1, y1 = box
    resized = Image.fromarray(np.asarray(attribution, np.float32), mode="F").resize(
        (x1 - x0, y1 - y0), Image.BILINEAR
    )
    drawn = (photo.astype(np.float32) * DIMMED).round().astype(np.uint8)
    drawn[y0:y1, x0:x1] = overlay(photo[y0:y1, x0:x1], np.asarray(resized), alpha)
    return drawn
