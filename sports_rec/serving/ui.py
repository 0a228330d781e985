"""The page: Gradio Blocks over a :class:`~sports_rec.serving.session.Session`.

Tabs: **Images** (image models side by side: top-k bars, the map over the photo, the
skeleton of fusion nets; a table of every photo by every model), **Videos** (per clip
model: the share of each exercise, the timeline chart, the segments, the annotated video
and a GradCAM video of a chosen moment) and **Compare** (every model on one file, each
run's test metrics and per-class accuracy). A tab appears when a model needs it.

A wrong input is a message in the page (``gr.Error``), never a stack trace: the project's
expected errors keep their own message; anything else is logged with its traceback on the
server and shown as one line. API names (``/predict_images``, ``/predict_sample``,
``/show_image``, ``/predict_video``, ``/gradcam``, ``/compare``) are what
``gradio_client`` calls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sports_rec.errors import SportsRecError
from sports_rec.explaining.attribution import METHODS
from sports_rec.serving import require_gradio
from sports_rec.serving.clips import TimelineSettings
from sports_rec.serving.images import ImageItem
from sports_rec.serving.models import ServedModel
from sports_rec.serving.session import ClipView, ImagesView, Session, plain
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

SEGMENT_COLUMNS = [
    "exercise", "start_s", "end_s", "frames", "mean_confidence", "start_frame", "end_frame",
]  # fmt: skip
# Small photos (a 64 px test image) are scaled up to the frame, like large ones are scaled down.
CSS = ".sr-picture img { width: 100%; height: 100%; object-fit: contain; }"
MAX_CHARS = 80  # characters of a table cell shown (long run labels)
IMAGE_HEIGHT = 280  # px of the photos and maps in the page (the files keep their size)
VIDEO_HEIGHT = 300


def page_errors(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``handler``; its expected errors become a message in the page (``gr.Error``)."""
    gr = require_gradio()

    @functools.wraps(handler)
    def wrapped(*args: Any) -> Any:
        try:
            return handler(*args)
        except gr.Error:
            raise
        except SportsRecError as error:
            raise gr.Error(str(error), print_exception=False) from None
        except Exception as error:
            log.exception("The app's %s failed", handler.__name__)
            first = (str(error).strip().splitlines() or [""])[0]
            raise gr.Error(
                f"Unexpected error ({type(error).__name__}: {first}); the server's log has the "
                "details",
                print_exception=False,
            ) from None

    return wrapped


def header(session: Session, url_note: str) -> str:
    lines = [f"## sports_rec: {len(session.models)} model(s)", ""]
    for model in session.models:
        lines.append(
            f"* **{plain(model.name)}**: {model.modality.name} model, "
            f"{len(model.class_names)} classes ({plain(model.metadata.dataset)}), on "
            f"{model.device.type}; `{model.source.path}`"
        )
    for failed in session.failed:
        lines.append(f"* **{plain(failed.name)}** could not be loaded: {plain(failed.message)}")
    lines += ["", url_note]
    return "\n".join(lines)


def picture(gr: Any, label: str, elem_id: str, **options: Any) -> Any:
    """An output picture (a map, a skeleton): PNG, fitted to the page's picture height."""
    return gr.Image(
        label=label,
        type="numpy",
        format="png",
        interactive=False,
        height=IMAGE_HEIGHT,
        elem_id=elem_id,
        elem_classes=["sr-picture"],
        **options,
    )


def model_heading(model: ServedModel) -> str:
    return f"#### {plain(model.name)}\n{model.modality.name} · {len(model.class_names)} classes"


def _choice_names(items: list[ImageItem]) -> list[str]:
    names = [item.name for item in items]
    if len(set(names)) < len(names):
        names = [f"{i + 1}: {name}" for i, name in enumerate(names)]
    return names


#: Every event that runs a model shares one concurrency group: ``concurrency`` requests at a
#: time in all, whatever the tab (Gradio limits each event on its own otherwise).
MODELS = "models"


def build_app(session: Session, url_note: str = "", concurrency: int = 1) -> Any:
    """The page (a ``gr.Blocks``) for ``session``; queue and launch it with :mod:`.launch`.
    At most ``concurrency`` requests run at a time, over all tabs."""
    gr = require_gradio()
    with gr.Blocks(title="sports_rec", analytics_enabled=False) as demo:
        gr.Markdown(header(session, url_note), elem_id="models")
        with gr.Tabs():
            if session.image_models:
                with gr.Tab("Images", id="images"):
                    _images_tab(gr, session, concurrency)
            if session.clip_models:
                with gr.Tab("Videos", id="videos"):
                    _videos_tab(gr, session, concurrency)
            with gr.Tab("Compare", id="compare"):
                _compare_tab(gr, session, concurrency)
    return demo


def _images_tab(gr: Any, session: Session, concurrency: int) -> None:
    models = session.image_models
    top_k = session.settings.top_k
    test_items, test_note = session.test_items()
    items_state = gr.State([])
    with gr.Row():
        with gr.Column(scale=2):
            photos = gr.File(
                label="Photos (one or more)",
                file_count="multiple",
                file_types=["image"],
                type="filepath",
                elem_id="photos",
            )
        with gr.Column(scale=1):
            sample = gr.Dropdown(
                choices=[item.name for item in test_items],
                value=None,
                label="... or a test sample (true label | file)",
                info=test_note,
                elem_id="test-sample",
            )
            method = gr.Dropdown(
                choices=list(METHODS),
                value=session.method_for(models[0]),
                label="Map",
                elem_id="method",
            )
            shown = gr.Dropdown(choices=[], value=None, label="Photo shown", elem_id="shown")
            predict = gr.Button("Predict", variant="primary", elem_id="predict-images")
    truth = gr.Markdown(elem_id="truth")
    columns: list[Any] = []
    with gr.Row(equal_height=False):
        for index, model in enumerate(models):
            with gr.Column(min_width=260):
                gr.Markdown(model_heading(model))
                columns += [
                    gr.Label(num_top_classes=top_k, label="top-k", elem_id=f"image-top-{index}"),
                    picture(gr, "map over the photo", f"image-map-{index}"),
                    picture(
                        gr,
                        "skeleton given to the net",
                        f"image-skeleton-{index}",
                        visible=model.kind.shows_skeleton,
                    ),
                    gr.Markdown(elem_id=f"image-note-{index}"),
                ]
    table = gr.Dataframe(
        label="Every photo, every model",
        interactive=False,
        wrap=True,
        max_chars=MAX_CHARS,
        column_widths=["16%", "10%", "22%", "12%", "9%", "21%", "10%"],
        elem_id="image-table",
    )

    def render(view: ImagesView) -> tuple[Any, ...]:
        for warning in view.warnings:
            gr.Warning(warning)
        names = _choice_names(view.items)
        item = view.items[view.shown]
        truth_text = f"**True label of {item.name}: {item.true_label}**" if item.true_label else ""
        values: list[Any] = [
            view.items,
            gr.update(choices=names, value=names[view.shown]),
            truth_text,
            view.table,
        ]
        for column in view.columns:
            values += [column.entries or None, column.overlay, column.skeleton, column.note]
        return tuple(values)

    @page_errors
    def predict_images(files: list[str] | None, chosen: str) -> tuple[Any, ...]:
        paths = [Path(f) for f in files or []]
        items = [ImageItem(path, path.name) for path in paths]
        return render(session.images(items, 0, chosen))

    @page_errors
    def predict_sample(name: str | None, chosen: str) -> tuple[Any, ...]:
        if not name:
            raise SportsRecError("pick a sample of the test split")
        return render(session.images([session.test_item(name)], 0, chosen))

    @page_errors
    def show_image(items: list[ImageItem], name: str | None, chosen: str) -> tuple[Any, ...]:
        if not items:
            raise SportsRecError("drop photos or pick a test sample first")
        names = _choice_names(items)
        index = names.index(name) if name in names else 0
        return render(session.images(items, index, chosen))

    outputs = [items_state, shown, truth, table, *columns]
    queued = {"concurrency_limit": concurrency, "concurrency_id": MODELS}
    predict.click(predict_images, [photos, method], outputs, api_name="predict_images", **queued)
    photos.upload(predict_images, [photos, method], outputs, api_visibility="private", **queued)
    sample.input(predict_sample, [sample, method], outputs, api_name="predict_sample", **queued)
    shown.input(show_image, [items_state, shown, method], outputs, api_name="show_image", **queued)
    method.input(
        show_image, [items_state, shown, method], outputs, api_visibility="private", **queued
    )


def _videos_tab(gr: Any, session: Session, concurrency: int) -> None:
    models = session.clip_models
    defaults = session.settings.timeline
    timelines = gr.State([])
    with gr.Row():
        with gr.Column(scale=2):
            video = gr.Video(
                label="Video",
                sources=["upload"],
                include_audio=True,
                height=VIDEO_HEIGHT,
                elem_id="video",
            )
        with gr.Column(scale=1):
            with gr.Accordion("Timeline settings (as predict's)", open=False):
                stride = gr.Number(defaults.stride, precision=0, minimum=1, label="stride (frames)")
                smoothing = gr.Number(defaults.smoothing_s, minimum=0, label="smoothing_s")
                min_duration = gr.Number(defaults.min_duration_s, minimum=0, label="min_duration_s")
                min_confidence = gr.Number(
                    defaults.min_confidence,
                    minimum=0,
                    maximum=1,
                    label="min_confidence (empty: off)",
                )
            run = gr.Button("Predict timeline", variant="primary", elem_id="predict-video")
            moment = gr.Slider(0, 1, value=0, step=0.1, label="Moment (s)", elem_id="moment")
            explain = gr.Button("GradCAM at this moment", elem_id="gradcam-button")
    columns: list[Any] = []
    cams: list[Any] = []
    for index, model in enumerate(models):
        gr.Markdown(model_heading(model))
        with gr.Row(equal_height=False):
            top = gr.Label(
                num_top_classes=session.settings.top_k,
                label="share of the video",
                elem_id=f"clip-top-{index}",
                scale=1,
            )
            chart = gr.Image(
                label="timeline: probability per class, then the segments",
                type="filepath",
                interactive=False,
                elem_id=f"clip-chart-{index}",
                scale=3,
            )
        segments = gr.Dataframe(
            label="segments", interactive=False, elem_id=f"clip-segments-{index}"
        )
        with gr.Row():
            annotated = gr.Video(
                label="annotated video",
                interactive=False,
                height=VIDEO_HEIGHT,
                elem_id=f"clip-annotated-{index}",
            )
            cam = gr.Video(
                label="GradCAM of the moment (the clip the net saw, its class probabilities)",
                interactive=False,
                height=VIDEO_HEIGHT,
                elem_id=f"clip-gradcam-{index}",
            )
            cams.append(cam)
        note = gr.Markdown(elem_id=f"clip-note-{index}")
        columns += [top, chart, segments, annotated, note]

    @page_errors
    def predict_video(
        path: str | None,
        stride_: float,
        smoothing_: float,
        duration_: float,
        confidence_: float | None,
    ) -> tuple[Any, ...]:
        if not path:
            raise SportsRecError("drop a video first")
        settings = TimelineSettings(
            stride=max(1, int(stride_ or defaults.stride)),
            smoothing_s=float(smoothing_ or 0),
            min_duration_s=float(duration_ or 0),
            min_confidence=None if confidence_ in (None, "") else float(confidence_),
            batch_size=defaults.batch_size,
        )
        views = session.videos(Path(path), settings)
        longest = max((v.timeline.duration_s for v in views if v.timeline), default=1.0)
        values: list[Any] = [
            views,
            gr.update(maximum=round(longest, 1), value=round(longest / 2, 1)),
        ]
        for view in views:
            timeline = view.timeline
            if timeline is None:
                values += [None, None, None, None, f"**Cannot predict:** {plain(view.error)}"]
                continue
            table = timeline.segments[SEGMENT_COLUMNS].round(3)
            values += [
                timeline.shares(),
                str(timeline.chart),
                table,
                str(timeline.annotated) if timeline.annotated else None,
                f"{len(table)} segment(s) in {timeline.duration_s:.1f} s; "
                f"files: `{timeline.folder}`",
            ]
        return tuple(values)

    @page_errors
    def gradcam(views: list[ClipView], moment_s: float) -> Any:
        videos = [str(v) if v else None for v in session.gradcam(views or [], float(moment_s or 0))]
        return videos[0] if len(videos) == 1 else tuple(videos)  # one output: its value

    inputs = [video, stride, smoothing, min_duration, min_confidence]
    queued = {"concurrency_limit": concurrency, "concurrency_id": MODELS}
    outputs = [timelines, moment, *columns]
    run.click(predict_video, inputs, outputs, api_name="predict_video", **queued)
    video.upload(predict_video, inputs, outputs, api_visibility="private", **queued)
    explain.click(gradcam, [timelines, moment], cams, api_name="gradcam", **queued)


def _compare_tab(gr: Any, session: Session, concurrency: int) -> None:
    gr.Markdown("#### Every model on the same input")
    with gr.Row():
        given = gr.File(
            label="A photo or a video", file_count="single", type="filepath", elem_id="compare-file"
        )
        go = gr.Button("Compare", variant="primary", elem_id="compare-button", scale=0)
    table = gr.Dataframe(
        label="one row per model",
        interactive=False,
        wrap=True,
        max_chars=MAX_CHARS,
        column_widths=["30%", "15%", "10%", "45%"],
        elem_id="compare-table",
    )
    maps = []
    if session.image_models:
        with gr.Row():
            for index, model in enumerate(session.image_models):
                maps.append(
                    picture(gr, f"{model.name}: map over the photo", f"compare-map-{index}")
                )
    gr.Markdown(
        "#### Test metrics of each run\nFrom each run folder's `test_metrics.json`; `tested` says "
        "which checkpoint they belong to."
    )
    gr.Dataframe(
        session.metrics_table(),
        interactive=False,
        wrap=True,
        max_chars=MAX_CHARS,
        column_widths=["20%", "9%", "12%", "6%", "7%", "7%", "7%", "6%", "13%", "13%"],
        elem_id="metrics",
    )
    gr.Markdown(
        "#### Per-class test accuracy, lowest first\nFrom each run folder's `per_class.csv` "
        "(empty: no test sample of the class)."
    )
    gr.Dataframe(
        session.per_class_table(), interactive=False, max_chars=MAX_CHARS, elem_id="per-class"
    )

    @page_errors
    def compare(path: str | None) -> tuple[Any, ...]:
        if not path:
            raise SportsRecError("drop a photo or a video first")
        result = session.compare(Path(path))
        return (result.table, *(result.maps.get(m.name) for m in session.image_models))

    queued = {"concurrency_limit": concurrency, "concurrency_id": MODELS}
    go.click(compare, [given], [table, *maps], api_name="compare", **queued)
    given.upload(compare, [given], [table, *maps], api_visibility="private", **queued)
