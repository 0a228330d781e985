"""Progress lines in a log: a run whose stdout is a pipe (SLURM, nohup, ``| tee``) says where
it is at a steady pace and estimates its whole time early (``callbacks.log_progress``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from sports_rec.callbacks.log_progress import batch_size_of, clock
from tests.conftest import TINY_DATA, run_cli

LINE = re.compile(
    r"epoch (\d+)/2  batch (\d+)/(\d+)  [\d.]+ samples/s  epoch [\d:]+ elapsed, ETA [\d:]+  "
    r"run ETA [\d:]+"
)


def test_clock_and_batch_sizes() -> None:
    assert clock(5) == "00:05" and clock(125.4) == "02:05" and clock(3725) == "1:02:05"
    assert batch_size_of({"image": torch.zeros(3, 1), "label": torch.zeros(7)}) == 7
    assert batch_size_of((torch.zeros(4, 2), torch.zeros(4))) == 4


@pytest.mark.slow  # a real two-epoch run in a subprocess
def test_a_run_into_a_pipe_logs_progress_lines_and_an_estimate(
    tmp_path: Path, data_dir: Path
) -> None:
    result = run_cli(
        "sports_rec.train",
        f"paths.data_dir={data_dir}",
        *TINY_DATA,
        "trainer.max_epochs=2",
        "trainer.accelerator=cpu",
        "print_config=false",
        "callbacks.log_progress.estimate_after=3",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    lines = [m.groups() for m in LINE.finditer(output)]
    assert {epoch for epoch, _, _ in lines} == {"1", "2"}, output[-3000:]
    total = int(lines[0][2])
    done = [int(batch) for epoch, batch, _ in lines if epoch == "1"]
    assert done == sorted(done) and done[-1] == total  # steady, up to the epoch's end
    assert len(done) >= min(total, 5)  # every 10 % of the epoch (or 30 s)
    assert len(re.findall(r"Estimate after 3 batches: ~[\d:]+ per epoch", output)) == 1
    assert "epoch 1/2" in (tmp_path / "run" / "train.log").read_text()  # the log file too
    # the model summary counts FLOPs on one example of the inputs (was "Total FLOPs: 0")
    assert re.search(r"Total FLOPs: [1-9]", output), output[-3000:]
