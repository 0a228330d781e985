"""timm's ``train.py`` against ``python -m sports_rec.train``: whole commands, same training.

Both programs train the same net from scratch on the same photos (``<data>/train``; the
test photos ``<data>/test`` are evaluated after every epoch by both) with the same epochs,
batch, AdamW lr and weight decay (neither decays biases and norms), warm-up + cosine
schedule per epoch, precision (bf16 autocast or fp32), memory format, loader workers and
intra-op threads, and by default the same augmentation (the project's: random-resized crop
scale 0.6-1 and flip, bilinear; eval: resize + centre crop 0.875; no label smoothing).
Rounds alternate the two (timm, project, timm, project ...). Each time is the wall clock of
the whole command, from launch to exit: what a user waits for, start-up, evaluation and
what each program writes included. Top-1 is the same on both sides: the accuracy on the
test photos of the final epoch's weights (timm: ``eval_top1`` of the last row of its
``summary.csv``; project: ``test/acc`` of ``test_metrics.json`` with ``test_ckpt=last``).

timm does not ship ``train.py`` in its wheel: pass the file from timm's repository (the
version compared here: timm's ``train.py`` for timm 1.0.31). Without ``--data`` a
realistic photo set is generated once (``benchmarks/photo_set.py``) under ``--cache``.

    python benchmarks/versus_timm.py --timm-train PATH/train.py [--data DIR] [--epochs 3]
        [--size 96] [--rounds 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf
from photo_set import describe, make_photo_set, read_sizes, size_summary

import sports_rec

CONF_DIR = Path(sports_rec.CONF_DIR)
PUBLISHED_CLASSES = 15  # the Kaggle sports-balls set: its reader checks the 15 names
PROGRAMS = ("timm", "sports_rec")


# --------------------------------------------------------------------------- settings
def project_schedule() -> dict[str, float]:
    """The project's ``scheduler=cosine`` values (warm-up epochs, start factor, floor)."""
    node = OmegaConf.load(CONF_DIR / "scheduler" / "cosine.yaml").scheduler
    return {
        "warmup_epochs": int(node.warmup_epochs),
        "warmup_start_factor": float(node.warmup_start_factor),
        "min_lr_ratio": float(node.min_lr_ratio),
    }


def project_augmentation() -> dict[str, object]:
    """The project's default training augmentation (``conf/transforms/default.yaml``)."""
    node = OmegaConf.load(CONF_DIR / "transforms" / "default.yaml").train
    return {
        "scale": [float(s) for s in node.scale],
        "hflip": float(node.hflip),
        "color_jitter": float(node.color_jitter),
    }


def timm_schedule_flags(epochs: int, lr: float, schedule: dict[str, float]) -> list[str]:
    """timm flags giving the project's per-epoch learning rates exactly.

    The project: linear warm-up over W epochs from ``f * lr``, then cosine from ``lr`` to
    ``m * lr`` over the remaining E - W epochs. timm's cosine with ``--warmup-prefix`` runs
    W warm-up epochs *before* ``--epochs`` epochs of cosine, so it gets ``--epochs E - W``
    (its log says "Scheduled epochs: E"); with E <= W every epoch is warm-up on both sides.
    """
    warmup = int(schedule["warmup_epochs"])
    flags = [
        "--sched",
        "cosine",
        "--warmup-lr",
        f"{lr * schedule['warmup_start_factor']:g}",
        "--min-lr",
        f"{lr * schedule['min_lr_ratio']:g}",
    ]
    if warmup == 0:
        return [*flags, "--epochs", str(epochs), "--warmup-epochs", "0"]
    if epochs <= warmup:
        return [*flags, "--epochs", str(epochs), "--warmup-epochs", str(warmup)]
    return [
        *flags,
        "--epochs",
        str(epochs - warmup),
        "--warmup-epochs",
        str(warmup),
        "--warmup-prefix",
    ]


def augmentation_flags(mode: str) -> tuple[list[str], list[str]]:
    """(timm flags, project overrides) for the augmentation ``mode``.

    ``project``: both run the project's default (timm told to match it); ``timm``: both run
    timm's default recipe (RRC 0.08-1, colour jitter 0.4, label smoothing 0.1; the project
    with ``transforms=timm_default loss=label_smoothing``), bilinear on both; ``own``: each
    its own defaults (the augmentations then differ, and so does the work per image).
    """
    if mode == "own":
        return [], []
    eval_flags = ["--interpolation", "bilinear", "--crop-pct", "0.875"]
    if mode == "timm":
        timm = ["--train-interpolation", "bilinear", *eval_flags]
        return timm, ["transforms=timm_default", "loss=label_smoothing"]
    aug = project_augmentation()
    timm = [
        "--scale",
        *(f"{s:g}" for s in aug["scale"]),
        "--hflip",
        f"{aug['hflip']:g}",
        "--color-jitter",
        f"{aug['color_jitter']:g}",
        "--smoothing",
        "0",
        "--train-interpolation",
        "bilinear",
        *eval_flags,
    ]
    return timm, []


@dataclass
class Setup:
    timm_train: str
    data: Path
    classes: int
    check_classes: bool
    net: str = "resnet10t"
    epochs: int = 3
    size: int = 96
    batch: int = 64
    workers: int = 2
    lr: float = 1e-3
    wd: float = 0.05
    precision: str = "bf16"
    channels_last: bool = True
    device: str = "cpu"
    augment: str = "project"
    seed: int = 42
    timm_extra: list[str] = field(default_factory=list)
    project_extra: list[str] = field(default_factory=list)


def timm_command(s: Setup, run_dir: Path) -> list[str]:
    aug, _ = augmentation_flags(s.augment)
    command = [
        sys.executable,
        s.timm_train,
        "--data-dir",
        str(s.data),
        "--train-split",
        "train",
        "--val-split",
        "test",
        "--model",
        s.net,
        "--num-classes",
        str(s.classes),
        "--img-size",
        str(s.size),
        "-b",
        str(s.batch),
        "--opt",
        "adamw",
        "--lr",
        f"{s.lr:g}",
        "--weight-decay",
        f"{s.wd:g}",
        *timm_schedule_flags(s.epochs, s.lr, project_schedule()),
        *aug,
        "-j",
        str(s.workers),
        "--device",
        s.device,
        "--seed",
        str(s.seed),
        "--output",
        str(run_dir.parent),
        "--experiment",
        run_dir.name,
    ]
    if s.precision == "bf16":
        command += ["--amp", "--amp-dtype", "bfloat16"]
    if s.channels_last:
        command.append("--channels-last")
    return command + list(s.timm_extra)


def project_command(s: Setup, run_dir: Path) -> list[str]:
    _, aug = augmentation_flags(s.augment)
    command = [
        sys.executable,
        "-m",
        "sports_rec.train",
        "data=sports_balls",
        f"data.root={s.data}",
        "data.val_split=test",
        f"data.image_size={s.size}",
        f"data.batch_size={s.batch}",
        f"data.num_workers={s.workers}",
        "model=timm",
        f"model.net.name={s.net}",
        "model.net.pretrained=false",
        f"model.channels_last={str(s.channels_last).lower()}",
        "optimizer=adamw",
        f"optimizer.lr={s.lr:g}",
        f"optimizer.weight_decay={s.wd:g}",
        "scheduler=cosine",
        f"trainer.max_epochs={s.epochs}",
        f"trainer.accelerator={'gpu' if s.device == 'cuda' else 'cpu'}",
        f"trainer.precision={'bf16-mixed' if s.precision == 'bf16' else '32-true'}",
        *aug,
        f"seed={s.seed}",
        "test_ckpt=last",
        f"hydra.run.dir={run_dir}",
    ]
    if not s.check_classes:
        command.insert(5, "data.reader.check_classes=false")
    return command + list(s.project_extra)


# --------------------------------------------------------------------------- results
def timm_top1(run_dir: Path | None = None, output: str = "") -> float | None:
    """Final-epoch test top-1 (%) of a timm run: the last row of ``summary.csv``, else the
    highest epoch in the ``--result`` JSON that ``train.py`` prints at the end."""
    if run_dir is not None and (run_dir / "summary.csv").is_file():
        rows = list(csv.DictReader((run_dir / "summary.csv").open()))
        if rows and rows[-1].get("eval_top1"):
            return float(rows[-1]["eval_top1"])
    return timm_top1_from_output(output)


def timm_top1_from_output(output: str) -> float | None:
    marker = output.rfind("--result\n")
    if marker < 0:
        return None
    text = output[marker + len("--result\n") :]
    try:
        results = json.JSONDecoder().raw_decode(text.lstrip())[0]
    except ValueError:
        return None
    final = max((r for r in results if "validation" in r), key=lambda r: r["epoch"], default=None)
    return None if final is None else float(final["validation"]["top1"])


def timm_best(output: str) -> float | None:
    """timm's own summary line ``*** Best metric: X (epoch N)`` (the best epoch, not the
    final one; printed for reference)."""
    for line in reversed(output.splitlines()):
        if "*** Best metric:" in line:
            return float(line.split("*** Best metric:")[1].split("(")[0])
    return None


def project_run_folder(output: str) -> Path | None:
    for line in reversed(output.splitlines()):
        if line.startswith("Run folder: "):
            return Path(line[len("Run folder: ") :].strip())
    return None


def project_top1(run_dir: Path) -> float | None:
    """Final-epoch test top-1 (%) of a project run (``test_ckpt=last``): ``test/acc`` of
    ``test_metrics.json``."""
    path = run_dir / "test_metrics.json"
    if not path.is_file():
        return None
    return 100.0 * float(json.loads(path.read_text())["test/acc"])


# --------------------------------------------------------------------------- machine
def machine() -> dict[str, str]:
    import timm
    import torch

    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())  # the first CPU's
    except OSError:
        pass
    cpu = info.get("model name") or platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    native = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu,
        "cores": f"{usable} usable of {os.cpu_count()}",
        "native bf16": ", ".join(native) if native else "no (bf16 autocast is emulated: slow)",
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "gpu": gpu,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "intra-op threads": str(torch.get_num_threads()),
    }


# --------------------------------------------------------------------------- running
@dataclass
class Run:
    round: int
    program: str
    wall_s: float
    top1: float | None
    images_per_s: float
    folder: Path
    phases: tuple[float, float, float] | None = None
    load: float = 0.0  # 1-minute load average when the run started


#: Lines each program prints when its training loop starts and when it ends: timm before its
#: epoch loop and after it; the project's model summary (Lightning's on_fit_start, before the
#: sanity check) and Lightning's end-of-fit line.
MARKS = {
    "timm": ("Scheduled epochs:", "*** Best metric:"),
    "sports_rec": ("Total estimated model params size", "`Trainer.fit` stopped"),
}


def phases(
    timeline: list[tuple[float, str]], marks: tuple[str, str], total: float
) -> tuple[float, float, float] | None:
    """(start-up, training, after) seconds: launch to the loop-start line, to the loop-end
    line, to exit; None when a line is missing."""
    times = []
    for mark in marks:
        found = [t for t, line in timeline if mark in line]
        if not found:
            return None
        times.append(found[0])
    return times[0], times[1] - times[0], total - times[1]


def run_once(
    command: list[str], log: Path, env: dict[str, str]
) -> tuple[float, str, int, list[tuple[float, str]]]:
    """Wall seconds from launch to exit, the output, the exit status, and each output line
    with the seconds since launch when it arrived (also written to ``log``)."""
    timeline: list[tuple[float, str]] = []
    env = {**env, "PYTHONUNBUFFERED": "1"}  # lines arrive when printed (a pipe buffers)
    with open(log, "w") as handle:
        start = time.perf_counter()
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            errors="replace",
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                seconds = time.perf_counter() - start
                timeline.append((seconds, line))
                handle.write(f"[{seconds:8.2f} s] {line}")
                handle.flush()  # the log can be followed while the run goes on
            code = process.wait()
        seconds = time.perf_counter() - start
    return seconds, "".join(line for _, line in timeline), code, timeline


CSV_COLUMNS = (
    "round",
    "program",
    "wall_s",
    "startup_s",
    "training_s",
    "after_s",
    "top1",
    "train_images_per_s",
    "load_at_start",
    "folder",
)


def table_markdown(runs: list[Run]) -> str:
    lines = [
        "| round | program | wall s | start-up s | training s | after s | top-1 % "
        "| train img/s | timm / project |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        ratio = ""
        if r.program == "sports_rec":
            timm = next((t for t in runs if t.round == r.round and t.program == "timm"), None)
            ratio = f"{timm.wall_s / r.wall_s:.2f}x" if timm else ""
        top1 = "-" if r.top1 is None else f"{r.top1:.1f}"
        split = " | ".join(f"{p:.1f}" for p in r.phases) if r.phases else "- | - | -"
        lines.append(
            f"| {r.round} | {r.program} | {r.wall_s:.1f} | {split} | {top1} "
            f"| {r.images_per_s:.1f} | {ratio} |"
        )
    return "\n".join(lines)


def ratios(runs: list[Run]) -> list[float]:
    out = []
    for number in sorted({r.round for r in runs}):
        pair = {r.program: r for r in runs if r.round == number}
        if len(pair) == 2:
            out.append(pair["timm"].wall_s / pair["sports_rec"].wall_s)
    return out


NOTES = """\
What each side does beyond the other (all part of what each program does by default):
- sports_rec: composes the Hydra config and prints it; decodes every photo once at start-up
  (at reduced JPEG scale, in threads) to skip unreadable files; writes a data report,
  splits.csv, metrics.csv, plots and per-class accuracy per epoch; saves checkpoints (best
  by val accuracy, best by val loss, last: hard links when they coincide); runs Lightning's
  2-batch sanity check before training; after training
  reloads last.ckpt and runs a test pass over the test photos (the epoch's evaluation and
  this pass are separate), writing the confusion matrix, per-class table, misclassified
  gallery and test_metrics.json. Training drops no last partial batch; decoding is capped
  at 2 x the input size (JPEG draft mode); AdamW uses torch's fused step.
- timm: saves a checkpoint per epoch (checkpoint-N, last, model_best); drops the last
  partial training batch; decodes every photo at full size; AdamW uses torch's default
  (per-tensor loop on CPU).
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timm-train", required=True, help="timm's train.py (from its repository)")
    parser.add_argument("--data", help="a train/<class>/*.jpg + test/<class>/*.jpg folder")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size", type=int, default=96, help="input size, px")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--net", default="resnet10t", help="a timm model name")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers, both")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--wd", type=float, default=0.05)
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, help="intra-op threads of both (OMP/MKL)")
    parser.add_argument(
        "--augment",
        choices=("project", "timm", "own"),
        default="project",
        help="project: both the project's default; timm: both timm's; own: each its own",
    )
    parser.add_argument("--classes", type=int, default=6, help="generated set")
    parser.add_argument("--train-per-class", type=int, default=465, help="generated set")
    parser.add_argument("--test-per-class", type=int, default=117, help="generated set")
    parser.add_argument("--seed", type=int, default=0, help="generated set")
    parser.add_argument("--cache", default="data/versus_timm", help="generated sets live here")
    parser.add_argument("--out", default="logs/versus_timm", help="runs and tables go here")
    parser.add_argument("--timm-extra", default="", help="more timm flags (one quoted string)")
    parser.add_argument("--project-extra", default="", help="more project overrides (quoted)")
    args = parser.parse_args()

    if not Path(args.timm_train).is_file():
        parser.error(f"--timm-train {args.timm_train}: no such file")
    if args.data:
        data = Path(args.data).expanduser().resolve()
        if not (data / "train").is_dir() or not (data / "test").is_dir():
            parser.error(f"--data {data}: expected train/<class>/ and test/<class>/ folders")
    else:
        data = make_photo_set(
            args.cache, args.classes, args.train_per_class, args.test_per_class, args.seed
        ).resolve()
    classes = sorted(p.name for p in (data / "train").iterdir() if p.is_dir())
    train_photos = sum(1 for p in (data / "train").glob("*/*") if p.is_file())
    test_photos = sum(1 for p in (data / "test").glob("*/*") if p.is_file())
    setup = Setup(
        timm_train=str(Path(args.timm_train).resolve()),
        data=data,
        classes=len(classes),
        check_classes=len(classes) == PUBLISHED_CLASSES,
        net=args.net,
        epochs=args.epochs,
        size=args.size,
        batch=args.batch,
        workers=args.workers,
        lr=args.lr,
        wd=args.wd,
        precision=args.precision,
        channels_last=args.channels_last,
        device=args.device,
        augment=args.augment,
        timm_extra=shlex.split(args.timm_extra),
        project_extra=shlex.split(args.project_extra),
    )
    if train_photos < 2 * args.batch:
        print(
            f"warning: {train_photos} training photos for batch {args.batch}: timm drops the "
            "last partial batch (the project does not), so its epochs are much shorter; "
            "use a smaller --batch for tiny sets"
        )
    env = dict(os.environ)
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    out = Path(args.out).expanduser().resolve() / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out.mkdir(parents=True)

    info = machine()
    if args.threads:
        info["intra-op threads"] = str(args.threads)
    sizes = describe(size_summary(read_sizes(data)))
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()))
    print(
        f"data: {data}: {len(classes)} classes, {train_photos} train / {test_photos} test; {sizes}"
    )
    settings = (
        f"{args.net} from scratch, {args.size} px, {args.epochs} epochs, batch {args.batch}, "
        f"AdamW lr {args.lr:g} wd {args.wd:g}, warm-up + cosine, {args.precision}, "
        f"{'channels_last' if args.channels_last else 'NCHW'}, {args.workers} workers, "
        f"augmentation: {args.augment}, {args.device}"
    )
    print(f"settings: {settings}")
    commands = {
        "timm": timm_command(setup, out / "r1_timm"),
        "sports_rec": project_command(setup, out / "r1_sports_rec"),
    }
    prefix = (
        f"OMP_NUM_THREADS={args.threads} MKL_NUM_THREADS={args.threads} " if args.threads else ""
    )
    for name, command in commands.items():
        print(
            f"\n{name} (round 1; later rounds differ only in the run folder):\n"
            f"  {prefix}{shlex.join(command)}"
        )
    print()

    runs: list[Run] = []
    for number in range(1, args.rounds + 1):
        for program in PROGRAMS:
            folder = out / f"r{number}_{program}"
            build = timm_command if program == "timm" else project_command
            load = os.getloadavg()[0]
            seconds, output, code, timeline = run_once(
                build(setup, folder), out / f"r{number}_{program}.log", env
            )
            if code != 0:
                tail = "\n".join(output.splitlines()[-25:])
                sys.exit(
                    f"{program} failed (exit status {code}); "
                    f"log {out}/r{number}_{program}.log:\n{tail}"
                )
            if program == "timm":
                top1 = timm_top1(folder, output)
                best = timm_best(output)
                extra = "" if best is None else f" (timm's best epoch {best:.1f})"
            else:
                top1 = project_top1(project_run_folder(output) or folder)
                extra = ""
            rate = train_photos * args.epochs / seconds
            split = phases(timeline, MARKS[program], seconds)
            runs.append(Run(number, program, seconds, top1, rate, folder, split, load))
            shown = "-" if top1 is None else f"{top1:.1f} %"
            parts = "" if split is None else " (start-up {:.1f}, training {:.1f}, after {:.1f})"
            print(
                f"round {number} {program:10s} {seconds:7.1f} s{parts.format(*split or ())}  "
                f"top-1 {shown}{extra}",
                flush=True,
            )

    found = ratios(runs)
    mean = sum(found) / len(found)
    table = table_markdown(runs)
    summary = (
        f"timm / project wall time: {', '.join(f'{r:.2f}x' for r in found)} (mean {mean:.2f}x)"
    )
    print(f"\n{table}\n\n{summary}\n\n{NOTES}")
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in runs:
            top1 = "" if r.top1 is None else f"{r.top1:.2f}"
            split = [f"{p:.2f}" for p in r.phases] if r.phases else ["", "", ""]
            rate, load = f"{r.images_per_s:.2f}", f"{r.load:.2f}"
            writer.writerow(
                [r.round, r.program, f"{r.wall_s:.2f}", *split, top1, rate, load, r.folder]
            )
    lines = [
        f"# timm train.py vs sports_rec.train ({info['date']})",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()),
        "",
        f"Data: {data}: {len(classes)} classes, {train_photos} train / {test_photos} test "
        f"photos; {sizes}",
        "",
        f"Settings: {settings}",
        "",
        table,
        "",
        summary,
        "",
        "Top-1: accuracy on the test photos of the final epoch's weights, both sides.",
        "Start-up: launch to the training loop (timm: its 'Scheduled epochs' line; project: the",
        "model summary at fit start); training: the epochs with their evaluations (the",
        "project's includes Lightning's 2-batch sanity check); after: to exit (the project's",
        "test pass and artefacts). Train img/s: training photos x epochs / whole wall time.",
        "",
        "Commands (round 1):",
        "",
        *(f"    {prefix}{shlex.join(c)}" for c in commands.values()),
        "",
        NOTES,
    ]
    (out / "results.md").write_text("\n".join(lines))
    print(f"tables: {out}/results.csv, {out}/results.md")


if __name__ == "__main__":
    main()
