"""Multi-clip evaluation: a video's labelled segment scored by the mean of its clips.

A clip is 16 frames (about half a second); an exercise lasts many seconds. Averaging the
class probabilities of all clips of one labelled stretch of a video (the usual "multi-clip"
test of video classifiers) scores the segment the way a user sees it and smooths out single
confused clips. A *segment* here is a run of consecutive test clips of one video with the
same label (the evaluation clips do not overlap; a background gap or a label change ends the
run).

Enabled with ``callbacks.multi_clip.enabled=true`` (the exercise-video recipes do). At test
end it writes ``test_segments.csv`` (video, segment, first and last frame, label,
prediction, confidence, clips) and adds ``test/segment_acc`` and
``test/segment_mean_class_acc`` to ``test_metrics.json``. Datasets without clips (images)
are left alone. Under DDP every rank's probabilities are gathered first.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch

from sports_rec.callbacks.clip_probabilities import ClipProbabilityCollector, tested_clips
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)


def segment_ids(clips: pd.DataFrame) -> np.ndarray:
    """A segment number per clip: consecutive clips (next start = previous start + the
    split's stride) of one video with one label share it. ``clips`` in dataset order."""
    starts = clips["start_frame"].to_numpy()
    steps = np.diff(starts)
    stride = int(np.min(steps[steps > 0])) if (steps > 0).any() else 1
    same_video = clips["path"].to_numpy()[1:] == clips["path"].to_numpy()[:-1]
    same_label = clips["label"].to_numpy()[1:] == clips["label"].to_numpy()[:-1]
    continues = same_video & same_label & (steps == stride)
    return np.concatenate([[0], np.cumsum(~continues)]).astype(int)


def score_segments(clips: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    """One row per segment: its clips' mean probabilities, prediction and confidence."""
    frame = clips.assign(segment=segment_ids(clips)).reset_index(drop=True)
    rows = []
    for segment, members in frame.groupby("segment", sort=True):
        mean = probs[members.index.to_numpy()].mean(axis=0)
        rows.append(
            {
                "path": members["path"].iloc[0],
                "segment": int(segment),
                "start_frame": int(members["start_frame"].min()),
                "end_frame": int(members["start_frame"].max()),  # first frame of the last clip
                "label": int(members["label"].iloc[0]),
                "pred": int(mean.argmax()),
                "confidence": float(mean.max()),
                "clips": len(members),
            }
        )
    return pd.DataFrame(rows)


def segment_metrics(segments: pd.DataFrame) -> dict[str, float]:
    correct = segments["label"] == segments["pred"]
    per_class = correct.groupby(segments["label"]).mean()
    return {
        "test/segment_acc": float(correct.mean()),
        "test/segment_mean_class_acc": float(per_class.mean()),
    }


class SegmentEvaluation(ClipProbabilityCollector):
    """Score test segments by their mean clip probabilities (see the module docstring)."""

    def __init__(self, output_dir: str, enabled: bool = False) -> None:
        super().__init__()
        self.output_dir = Path(output_dir)
        self.enabled = enabled

    def collecting(self, trainer: L.Trainer) -> bool:
        return self.enabled and super().collecting(trainer)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or getattr(pl_module, "test_prefix", "test") != "test":
            return
        table = tested_clips(trainer)
        if table is None:
            log.info("multi-clip evaluation skipped: the test data has no clips")
            return
        probs = self.gathered(trainer)
        if probs is None:
            return
        if len(probs) != len(table):
            log.warning(
                "multi-clip evaluation skipped: %d of %d test clips were scored (a limited "
                "test run?)",
                len(probs),
                len(table),
            )
            return
        matrix = np.stack([probs[i] for i in range(len(table))])
        segments = score_segments(table.reset_index(drop=True), matrix)
        names = list(pl_module.class_names)
        segments.assign(
            label_name=segments["label"].map(dict(enumerate(names))),
            pred_name=segments["pred"].map(dict(enumerate(names))),
        ).to_csv(self.output_dir / "test_segments.csv", index=False)
        metrics = segment_metrics(segments)
        path = self.output_dir / "test_metrics.json"
        try:
            record = json.loads(path.read_text()) if path.is_file() else {}
            record.update(metrics)
            path.write_text(json.dumps(record, indent=2) + "\n")
        except OSError as error:  # the test artefact writer reports it and ends the run
            log.error("Could not add the segment metrics %s to %s (%s)", metrics, path, error)
        log.info(
            "multi-clip evaluation: %d segments, accuracy %.4f (clips: %s)",
            len(segments),
            metrics["test/segment_acc"],
            f"{float(trainer.callback_metrics.get('test/acc', torch.nan)):.4f}",
        )
