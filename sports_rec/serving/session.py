"""What the page does for each request, without the page: the models loaded once, the
settings, the request folders, and one method per action (the image tab, the video tab,
a GradCAM moment, compare). :mod:`.ui` wires these to Gradio components; a wrong input is
a ``SportsRecError`` whose message the page shows.

Every request writes into its own folder, ``<run folder>/requests/<n>_<action>/``
(timelines, annotated videos, GradCAM videos), so what the page showed stays on disk.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from sports_rec.errors import SportsRecError
from sports_rec.explaining.panels import slug
from sports_rec.serving.clips import ClipKind, ClipTimeline, TimelineSettings, check_video
from sports_rec.serving.compare import SameInput, metrics_table, per_class_accuracy, same_input
from sports_rec.serving.images import (
    ImageInputError,
    ImageItem,
    ImageKind,
    readable_image,
    test_split_items,
)
from sports_rec.serving.models import FailedModel, ServedModel, error_message
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)


@dataclass
class AppSettings:
    """The request-time settings of ``conf/app.yaml``."""

    top_k: int = 5
    method: str | None = None  # null: each model's modality's default
    alpha: float = 0.5
    batch_size: int = 16
    test_samples: int = 200
    fps: float = 8.0
    timeline: TimelineSettings = field(default_factory=TimelineSettings)

    @classmethod
    def from_config(cls, cfg: DictConfig) -> AppSettings:
        return cls(
            top_k=int(cfg.top_k),
            method=cfg.get("method"),
            alpha=float(cfg.alpha),
            batch_size=int(cfg.batch_size),
            test_samples=int(cfg.test_samples),
            fps=float(cfg.fps),
            timeline=TimelineSettings(
                stride=int(cfg.stride),
                smoothing_s=float(cfg.smoothing_s),
                min_duration_s=float(cfg.min_duration_s),
                min_confidence=cfg.get("min_confidence"),
                batch_size=int(cfg.batch_size),
            ),
        )


@dataclass
class ModelImageView:
    """One image model's column for the photo shown."""

    entries: dict[str, float] = field(default_factory=dict)
    overlay: np.ndarray | None = None
    skeleton: np.ndarray | None = None
    note: str = ""


@dataclass
class ImagesView:
    """The image tab after a request: the items, the one shown, every model's column for
    it, a table of every item by every model, and warnings (files that were skipped)."""

    items: list[ImageItem]
    shown: int
    columns: list[ModelImageView]
    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


@dataclass
class ClipView:
    """One clip model's timeline of the video (None and ``error`` when it failed)."""

    timeline: ClipTimeline | None
    error: str = ""


def plain(text: str) -> str:
    """``text`` shown as it is in Markdown (``<run folder>`` is no HTML tag, ``best-*.ckpt``
    no emphasis)."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]#|])", r"\\\1", text)


TABLE_COLUMNS = ["file", "true", "model", "top-1", "probability", "top-k", "note"]


class Session:
    """The served models and what each action of the page does with them."""

    def __init__(
        self,
        models: Sequence[ServedModel],
        failed: Sequence[FailedModel],
        settings: AppSettings,
        workdir: str | Path,
    ) -> None:
        self.models = list(models)
        self.failed = list(failed)
        self.settings = settings
        self.workdir = Path(workdir)
        self.image_models = [m for m in self.models if isinstance(m.kind, ImageKind)]
        self.clip_models = [m for m in self.models if isinstance(m.kind, ClipKind)]
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._test_items: tuple[list[ImageItem], str] | None = None

    # ----------------------------------------------------------------------------- helpers
    def request_folder(self, action: str) -> Path:
        """A new folder for one request: ``<run folder>/requests/<n>_<action>``."""
        with self._lock:
            number = next(self._counter)
        folder = self.workdir / "requests" / f"{number:04d}_{action}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def method_for(self, model: ServedModel, chosen: str | None = None) -> str:
        """The attribution method: the page's choice, ``method=``, or the modality's default."""
        return str(chosen or self.settings.method or model.modality.default_explain_method)

    def test_items(self) -> tuple[list[ImageItem], str]:
        """The samples offered from the image models' test splits (one split per dataset,
        named by it when there are several), and a note saying which splits (or why one is
        missing); built once."""
        if self._test_items is None:
            splits: dict[tuple[str, str], ServedModel] = {}
            for model in self.image_models:
                key = (model.metadata.dataset, str(model.metadata.data.get("root")))
                splits.setdefault(key, model)
            items: list[ImageItem] = []
            notes: list[str] = []
            for (dataset, _), model in splits.items():
                try:
                    found = test_split_items(
                        model,
                        self.workdir / "test_split" / slug(model.name),
                        self.settings.test_samples,
                    )
                except Exception as error:
                    log.warning("No test samples of %s: %s", dataset, error_message(error))
                    notes.append(error_message(error))
                    continue
                if len(splits) > 1:
                    for item in found:
                        item.name = f"{dataset}: {item.name}"
                items += found
                notes.append(f"{dataset}'s test split ({len(found)} samples)")
            self._test_items = (items, "; ".join(notes))
        return self._test_items

    def test_item(self, name: str) -> ImageItem:
        for item in self.test_items()[0]:
            if item.name == name:
                return item
        raise ImageInputError(f"{name!r} is not a sample of the test split offered")

    # ------------------------------------------------------------------------------ images
    def images(
        self, items: Sequence[ImageItem], shown: int = 0, method: str | None = None
    ) -> ImagesView:
        """Every image model on ``items`` (top-k table) and on ``items[shown]`` (labels, map
        and skeleton); raises ``ImageInputError`` when no item is a readable image."""
        if not items:
            raise ImageInputError("no photo given: drop one or more photos, or pick a test sample")
        problems: dict[int, str] = {}
        for index, item in enumerate(items):
            try:
                readable_image(item.path)
            except ImageInputError as error:
                problems[index] = str(error)
        readable = [i for i in range(len(items)) if i not in problems]
        if not readable:
            raise ImageInputError("; ".join(problems.values()))
        if shown not in readable:
            shown = readable[0]
        rows: list[dict[str, Any]] = []
        columns: list[ModelImageView] = []
        for model in self.image_models:
            column = ModelImageView()
            try:
                predictions = model.kind.predict(
                    model,
                    [items[i] for i in readable],
                    self.settings.top_k,
                    self.settings.batch_size,
                )
            except Exception as error:
                column.note = f"**Cannot predict:** {plain(error_message(error))}"
                columns.append(column)
                continue
            by_item = dict(zip(readable, predictions, strict=True))
            for index, item in enumerate(items):
                prediction = by_item.get(index)
                top = prediction.top if prediction else None
                rows.append(
                    {
                        "file": item.name,
                        "true": item.true_label or "",
                        "model": model.name,
                        "top-1": top[0] if top else "",
                        "probability": round(top[1], 4) if top else None,
                        "top-k": ", ".join(f"{k} {v:.0%}" for k, v in prediction.entries.items())
                        if prediction
                        else "",
                        "note": problems.get(index) or (prediction.error if prediction else ""),
                    }
                )
            shown_prediction = by_item[shown]
            column.entries = shown_prediction.entries
            notes = []
            if shown_prediction.keypoints_from:
                notes.append(f"keypoints: {plain(shown_prediction.keypoints_from)}")
            if shown_prediction.error:
                notes.append(f"**Cannot predict:** {plain(shown_prediction.error)}")
            else:
                chosen = self.method_for(model, method)
                try:
                    explained = model.kind.explain(
                        model, shown_prediction, chosen, self.settings.alpha
                    )
                    column.overlay, column.skeleton = explained.overlay, explained.skeleton
                    layer = f" (layer {explained.layer})" if explained.layer else ""
                    notes.append(f"map: {chosen}{layer} of the top label")
                except Exception as error:
                    notes.append(f"**No {chosen} map:** {plain(error_message(error))}")
            column.note = " · ".join(notes)
            columns.append(column)
        warnings = list(problems.values())
        return ImagesView(
            list(items), shown, columns, pd.DataFrame(rows, columns=TABLE_COLUMNS), warnings
        )

    # ------------------------------------------------------------------------------ videos
    def videos(self, path: Path, settings: TimelineSettings | None = None) -> list[ClipView]:
        """Every clip model's timeline of ``path``; raises the error when every model
        failed on it (not a video, shorter than a clip ...)."""
        if not self.clip_models:
            raise SportsRecError("no clip model is served")
        check_video(path, " and ".join(m.name for m in self.clip_models))
        settings = settings or self.settings.timeline
        folder = self.request_folder("video")
        views: list[ClipView] = []
        errors: list[BaseException] = []
        for index, model in enumerate(self.clip_models):
            try:
                timeline = model.kind.timeline(
                    model, path, folder / f"{index}_{slug(model.name)}", settings
                )
                views.append(ClipView(timeline))
            except Exception as error:
                errors.append(error)
                views.append(ClipView(None, error_message(error)))
        if errors and len(errors) == len(views):
            first = errors[0]
            if isinstance(first, SportsRecError):
                raise first
            raise SportsRecError(error_message(first)) from first
        return views

    def gradcam(self, views: Sequence[ClipView], moment_s: float) -> list[Path | None]:
        """Each clip model's GradCAM video of the clip at ``moment_s`` (None where its
        timeline failed)."""
        if not any(view.timeline for view in views):
            raise SportsRecError("predict a video's timeline first, then choose a moment")
        folder = self.request_folder("gradcam")
        videos: list[Path | None] = []
        for index, (model, view) in enumerate(zip(self.clip_models, views, strict=False)):
            if view.timeline is None:
                videos.append(None)
                continue
            videos.append(
                model.kind.gradcam(
                    model,
                    view.timeline,
                    moment_s,
                    folder / f"{index}_{slug(model.name)}",
                    fps=self.settings.fps,
                    alpha=self.settings.alpha,
                )
            )
        return videos

    # ----------------------------------------------------------------------------- compare
    def compare(self, path: Path, method: str | None = None) -> SameInput:
        """Every model on one file (:func:`~sports_rec.serving.compare.same_input`)."""
        folder = self.request_folder("compare")
        return same_input(
            self.models,
            path,
            lambda model: folder / slug(model.name),
            top_k=self.settings.top_k,
            method=lambda model: self.method_for(model, method),
            settings=self.settings.timeline,
            alpha=self.settings.alpha,
        )

    def metrics_table(self) -> pd.DataFrame:
        return metrics_table(self.models, self.failed)

    def per_class_table(self) -> pd.DataFrame:
        return per_class_accuracy(self.models)
