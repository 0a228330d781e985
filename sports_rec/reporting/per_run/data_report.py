"""The data reports of a run: what the reader found and how the data was split.

Written into the run folder (README "Outputs"), by the run layer, not the datamodule, which
only splits and loads (:func:`sports_rec.builders.build_datamodule` attaches a
:class:`DataReport`):

* ``splits.csv`` - every sample with its split and class; ``skipped_files.csv`` - what was
  left out and why; ``data_report.txt`` - counts, notes, rebalancing, validation = test;
* for datasets that cut rows into several samples (a video's clips): ``<unit>s.csv`` and
  their counts per split and class, and the data analysis figures (``analysis/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sports_rec.reporting.per_run.data_analysis import write_data_analysis
from sports_rec.utils.logging import get_logger

if TYPE_CHECKING:
    from sports_rec.data.datamodule import SportsDataModule

log = get_logger(__name__)


class DataReport:
    """Writes a datamodule's reports into ``output_dir`` (see the module docstring)."""

    def __init__(self, output_dir: str | Path) -> None:
        self.output_dir = Path(output_dir)

    def datasets(self, datamodule: SportsDataModule) -> None:
        """What the datasets made of the splits: each dataset's ``notes`` (e.g. images in
        which no person was found) appended to ``data_report.txt``; for datasets that cut
        rows into several samples (a video's clips) also ``<unit>s.csv`` with every sample
        and their counts per split and class (plus e.g. downsampling)."""
        tables = {s: getattr(d, "table", None) for s, d in datamodule.datasets.items()}
        if any(t is None for t in tables.values()):
            notes = [
                f"{split}: {note}"
                for split, dataset in datamodule.datasets.items()
                for note in getattr(dataset, "notes", [])
            ]
            if notes:
                with (self.output_dir / "data_report.txt").open("a") as report:
                    report.write("\n".join(notes) + "\n")
            return
        out = self.output_dir
        unit = getattr(datamodule.datasets["train"], "unit", "sample")
        names = dict(enumerate(datamodule.class_names))
        combined = pd.concat([t.assign(split=s) for s, t in tables.items()], ignore_index=True)
        # the sample's own columns; what it shares with its source row is in splits.csv
        shared = [
            c for c in datamodule.frames["train"].columns if c not in ("path", "label", "split")
        ]
        combined = combined.drop(columns=[c for c in shared if c != "group"], errors="ignore")
        combined.assign(class_name=combined["label"].map(names)).to_csv(
            out / f"{unit}s.csv", index=False
        )
        lines = []
        for split, dataset in datamodule.datasets.items():
            table = tables[split]
            used = table[table["used"]] if "used" in table.columns else table
            counts = used["label"].value_counts()
            per_class = ", ".join(f"{names[i]}={int(counts[i])}" for i in sorted(counts.index))
            lines.append(f"{split} {unit}s: {len(used)} ({per_class})")
            lines += [f"{split}: {note}" for note in getattr(dataset, "notes", [])]
        with (out / "data_report.txt").open("a") as report:
            report.write("\n".join(lines) + "\n")
        try:  # figures are optional: never lose a run over one
            write_data_analysis(out, val_is_test=datamodule.val_is_test)
        except Exception as error:
            log.warning("Could not write the data analysis (%s: %s)", type(error).__name__, error)

    def splits(
        self, datamodule: SportsDataModule, frame: pd.DataFrame, frames: dict[str, pd.DataFrame]
    ) -> None:
        """``splits.csv``, ``data_report.txt`` and ``skipped_files.csv``."""
        out = self.output_dir
        out.mkdir(parents=True, exist_ok=True)
        names = datamodule.index_table.class_names
        described = ("path", "label", "split", "group", "num_frames", "fps", "width", "height")
        columns = [c for c in described if c in frame.columns]
        frame[columns].assign(class_name=frame["label"].map(dict(enumerate(names)))).to_csv(
            out / "splits.csv", index=False
        )
        lines = [
            f"dataset: {datamodule.name}",
            f"root: {datamodule.root}",
            datamodule.index_table.summary(),
        ]
        lines += [f"note: {n}" for n in datamodule.index_table.notes]
        if datamodule.rebalanced is not None:
            before, after = datamodule.rebalanced
            lines.append(
                f"rebalanced before splitting (data.rebalance={datamodule.rebalance}): class "
                f"counts {before} -> {after}"
            )
        unit = datamodule.index_table.unit
        for split, part in frames.items():
            lines.append(f"{split}: {len(part)} {unit}s")
        if datamodule.val_is_test:
            lines.append(
                "validation = the test split (data.val_split=test): evaluated every epoch, as "
                "the study did; a checkpoint or epoch chosen on it is chosen on the test set"
            )
        if datamodule.skipped:
            lines.append(f"skipped: {len(datamodule.skipped)} file(s) (skipped_files.csv)")
            lines += [f"  {path}: {reason}" for path, reason in datamodule.skipped.items()]
        (out / "data_report.txt").write_text("\n".join(lines) + "\n")
        if datamodule.skipped:
            pd.DataFrame(
                {"path": list(datamodule.skipped), "reason": list(datamodule.skipped.values())}
            ).to_csv(out / "skipped_files.csv", index=False)
