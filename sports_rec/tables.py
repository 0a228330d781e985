"""Reproduce a study's table: its recipes as Hydra sweeps, then ``report`` beside the
published numbers. ``make table-<study>`` calls this.

    python -m sports_rec.tables sports_balls --data-root /data/sports_balls
    python -m sports_rec.tables workout --smoke            # synthetic layout, tiny settings
    python -m sports_rec.tables sports100 --data-root D -- model.net.weights=/w/x.safetensors

Each study is one entry of :data:`STUDIES`: its dataset, its recipes, and the sweeps that run
them. Where a study contradicts itself, the readings are swept side by side (study 001: the
notebook's augmentation vs the text's none; study 002: per-model input sizes vs one size;
study 003: "unfrozen final layer" as layer4 or the fc, StepLR gamma 0.1 or 0.01, each
labelled in a ``reading`` column), so the table shows both; its rows are grouped by recipe,
each recipe's readings together. A study's :class:`Evaluation` re-tests one recipe's
checkpoint with other test-time settings (study 004: the reported run tested without
skeleton attention, as its evaluate script did) and shows it as a row beside that run.
Extra overrides after ``--`` go to every job (e.g. local weights offline). ``--smoke``
generates the study's layout with the synthetic generator and runs the very same sweeps at
tiny size (1 epoch, 2 batches, 32-72 px, no pretrained weights): a few minutes on 2 CPU
cores, to check the whole path.

Everything lands in ``--out`` (default ``multirun/tables/<date>_<time>/<study>/``): one
folder per sweep, ``evaluations/<name>/`` and ``report/`` (``report.md``, ``report.csv``,
``report.html`` ...). The exit status is 1 when a job failed (the report lists it) or the
data is missing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from sports_rec.data.catalog import dataset_entry
from sports_rec.errors import SportsRecError
from sports_rec.pose_estimation import INSTALL_HINT
from sports_rec.pose_estimation.registry import DEFAULT_BACKEND, backend_installed
from sports_rec.reporting.across_runs.published import published_path

PROJECT_ROOT = Path.cwd()


@dataclass(frozen=True)
class Evaluation:
    """Re-test the checkpoint a recipe's job tested, with other test-time overrides
    (``python -m sports_rec.evaluate``), into ``evaluations/<name>/``; the report shows it
    beside that job."""

    recipe: str  # the experiment= whose tested checkpoint is evaluated
    name: str  # folder and report row name
    overrides: tuple[str, ...]  # evaluate overrides, e.g. data.dataset.skeleton_attention=false


#: Settings of the table (``--smoke``'s, the user's after ``--``) that ``evaluate`` takes too:
#: the trainer's, the loaders'. The rest (model, optimizer ...) only concern training.
EVALUATE_SETTINGS = (
    "trainer.",
    "data.batch_size=",
    "data.eval_batch_size=",
    "data.num_workers=",
    "callbacks.rich_progress_bar=",
)


@dataclass(frozen=True)
class Study:
    """What it takes to reproduce one study's table."""

    seed: str  # the study's seed file prefix, for messages
    dataset: str  # its dataset in sports_rec.data.catalog (download, synthetic layout)
    published: str  # experiments/<study>/published.csv, relative to the project
    sweeps: tuple[tuple[str, ...], ...]  # Hydra overrides of each sweep
    smoke: tuple[str, ...]  # tiny settings for --smoke
    smoke_layout: dict[str, int] = field(default_factory=dict)  # SyntheticSpec fields
    make_target: str = ""  # its `make` target when not table-<name with dashes>
    evaluations: tuple[Evaluation, ...] = ()  # checkpoints re-tested after the sweeps
    # --smoke's sweeps where they differ: each extra reading of a study run on one recipe,
    # which proves the reading's wiring at a fraction of the jobs
    smoke_sweeps: tuple[tuple[str, ...], ...] | None = None

    def sweeps_for(self, smoke: bool) -> tuple[tuple[str, ...], ...]:
        return self.smoke_sweeps if smoke and self.smoke_sweeps is not None else self.sweeps


SPORTS100 = "sports100/resnet50,sports100/mobilenetv2,sports100/convnext_tiny," + (
    "sports100/convnext_tiny_v1,sports100/vit"
)
INFINITEFORM_UNFROZEN = (
    "infiniteform/m2_unfrozen,infiniteform/m4_unfrozen_kp,infiniteform/m5_kp_head2,"
    "infiniteform/m6_kp_head3"
)
INFINITEFORM_TRAINED = (
    "infiniteform/m1_frozen,infiniteform/m2_unfrozen,infiniteform/m3_frozen_kp,"
    "infiniteform/m4_unfrozen_kp,infiniteform/m5_kp_head2,infiniteform/m6_kp_head3"
)
INFINITEFORM_ALL = f"infiniteform/baseline,{INFINITEFORM_TRAINED}"
# "unfrozen final layer" read as the fc: ResNet-50's own fc kept, trained, the head on it
INFINITEFORM_FC = ("model.net.features=logits", "model.net.freeze=all_but_classifier")
# l.142's StepLR gamma; the recipes' scheduler group named too: in a multirun Hydra composes
# the sweep's own config without the swept experiment, where the key must exist
INFINITEFORM_GAMMA = ("scheduler=step", "scheduler.scheduler.gamma=0.01")
INFINITEFORM_M4 = "experiment=infiniteform/m4_unfrozen_kp"
TINY = (
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "data.batch_size=8",
    "data.num_workers=0",
    "callbacks.rich_progress_bar=null",
)

STUDIES: dict[str, Study] = {
    "sports100": Study(
        seed="000",
        dataset="sports100",
        published="experiments/sports100_000/published.csv",
        # then, beyond the study, ResNet50 fused with estimated keypoints (study 003's idea)
        sweeps=((f"experiment={SPORTS100}",), ("experiment=sports100/resnet50_kp",)),
        smoke=(*TINY, "model.net.pretrained=false", "data.image_size=32"),
        smoke_layout={"classes": 4, "per_class": 16, "eval_per_class": 4, "size": 32},
    ),
    "sports_balls": Study(
        seed="001",
        dataset="sports_balls",
        published="experiments/sports_balls_001/published.csv",
        # the notebook's reading (timm default augmentation) beside the text's (none)
        sweeps=(
            (
                "experiment=sports_balls/resnet26d_max_adam,sports_balls/resnet26d_avg_sgd",
                "transforms=timm_default,plain",
            ),
        ),
        smoke=(*TINY, "model.net.pretrained=false", "data.image_size=32"),
        smoke_layout={"classes": 4, "per_class": 12, "eval_per_class": 4, "size": 32},
    ),
    "infiniteform": Study(
        seed="003",
        dataset="infiniteform",
        published="experiments/infiniteform_003/published.csv",
        # Both readings of "unfrozen final layer" (models 2, 4, 5, 6: layer4, the recipes'
        # default, or the fc) and of the StepLR gamma (l.113: 0.1; l.142: 0.01), labelled in
        # the table's `reading` column. The baseline is not trained (gamma moot), models 1
        # and 3 are frozen (no final layer to read): they run once per gamma / once.
        sweeps=(
            (f"experiment={INFINITEFORM_ALL}", "+reading='layer4, gamma 0.1'"),
            (
                f"experiment={INFINITEFORM_TRAINED}",
                *INFINITEFORM_GAMMA,
                "+reading='layer4, gamma 0.01'",
            ),
            (f"experiment={INFINITEFORM_UNFROZEN}", *INFINITEFORM_FC, "+reading='fc, gamma 0.1'"),
            (
                f"experiment={INFINITEFORM_UNFROZEN}",
                *INFINITEFORM_FC,
                *INFINITEFORM_GAMMA,
                "+reading='fc, gamma 0.01'",
            ),
        ),
        smoke_sweeps=(
            (f"experiment={INFINITEFORM_ALL}", "+reading='layer4, gamma 0.1'"),
            (
                INFINITEFORM_M4,
                *INFINITEFORM_GAMMA,
                "+reading='layer4, gamma 0.01'",
            ),
            (
                INFINITEFORM_M4,
                *INFINITEFORM_FC,
                "+reading='fc, gamma 0.1'",
            ),
            (
                INFINITEFORM_M4,
                *INFINITEFORM_FC,
                *INFINITEFORM_GAMMA,
                "+reading='fc, gamma 0.01'",
            ),
        ),
        smoke=(*TINY, "model.net.pretrained=false", "data.image_size=64"),
        smoke_layout={"classes": 6, "per_class": 12, "eval_per_class": 4, "size": 64},
    ),
    "exercise_video": Study(
        seed="004",
        dataset="exercise_video",
        make_target="table-video",
        published="experiments/exercise_video_004/published.csv",
        sweeps=(
            (
                "experiment=exercise_video/c3d_baseline,exercise_video/c3d_downsample,"
                "exercise_video/c3d_masks,exercise_video/c3d_skeleton,exercise_video/c3d_all",
                # the recipes' groups named too: in a multirun Hydra composes the sweep's
                # own config without the swept experiment, and data.dataset.* overrides
                # must exist there
                "data=exercise_video",
                "model=c3d",
            ),
        ),
        smoke=(*TINY, "model.net.width=8", "data.image_size=32", "data.dataset.cache_workers=1"),
        smoke_layout={"classes": 17, "per_class": 48, "eval_per_class": 32, "size": 64},
        # the study's 89.73 % validation vs 73.11 % test: its evaluate script had no skeleton
        # attention (STUDY_CHECKLISTS.md 004, ambiguity 2); this row tests that reading
        evaluations=(
            Evaluation(
                "exercise_video/c3d_all",
                "c3d_all_tested_without_skeleton_attention",
                ("data.dataset.skeleton_attention=false",),
            ),
        ),
    ),
    "workout": Study(
        seed="002",
        dataset="workout",
        published="experiments/workout_002/published.csv",
        # per-model input sizes (LeNet 200, AlexNet 224), then AlexNet at LeNet's 200 px
        # then, beyond the study, a ResNet-18 fused with estimated keypoints
        sweeps=(
            ("experiment=workout/lenet,workout/alexnet",),
            ("experiment=workout/alexnet", "data.image_size=200"),
            ("experiment=workout/resnet_kp",),
        ),
        smoke=(*TINY, "data.image_size=72"),
        smoke_sweeps=(
            ("experiment=workout/lenet,workout/alexnet",),
            ("experiment=workout/alexnet", "data.image_size=200"),
            ("experiment=workout/resnet_kp", "model.net.pretrained=false"),
        ),
        smoke_layout={"classes": 4, "per_class": 24, "eval_per_class": 1, "size": 48},
    ),
}


def needs_pose_backend(overrides: tuple[str, ...]) -> bool:
    """Whether a sweep runs recipes that estimate keypoints (``*_kp``: beyond the studies)."""
    return any(o.startswith("experiment=") and "_kp" in o for o in overrides)


class TableError(SportsRecError):
    """The study's data is missing or a step of the table failed."""


def _smoke_root(study: Study, out: Path) -> Path:
    from sports_rec.data.synthetic import SyntheticSpec, ensure_synthetic

    spec = SyntheticSpec(study.dataset, seed=0, **study.smoke_layout)
    return ensure_synthetic(spec, out / "smoke_data")


def _check_root(study: Study, name: str, data_root: str | None) -> Path:
    entry = dataset_entry(study.dataset)
    expected = entry.expected
    if entry.kaggle is not None:
        get = (
            f"Get the data with:\n  python -m sports_rec.download {study.dataset} "
            "--out DIR\n(it prints the data.root to pass as DATA_ROOT)"
        )
    else:
        expected, get = entry.source, "Then pass that folder as DATA_ROOT"
    hint = (
        f"{get}, or run the same table on synthetic data: "
        f"make {study.make_target or 'table-' + name.replace('_', '-')} SMOKE=1"
    )
    if not data_root:
        raise TableError(
            f"DATA_ROOT is required: the {study.dataset} dataset folder, {expected}.\n{hint}"
        )
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise TableError(f"DATA_ROOT={root} is not a folder; expected {expected}.\n{hint}")
    return root.resolve()


def _overrides(job: Path) -> list[str]:
    try:
        lines = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return []
    return [str(line) for line in lines or []]


def _recipe(job: Path) -> str | None:
    for line in _overrides(job):
        key, _, value = line.partition("=")
        if key.lstrip("+") == "experiment":
            return value
    return None


def sweep_jobs(sweep: Path) -> list[Path]:
    """A sweep folder's job folders (those holding ``.hydra/overrides.yaml``), by number."""
    if not sweep.is_dir():
        return []
    jobs = [d for d in sweep.iterdir() if (d / ".hydra" / "overrides.yaml").is_file()]
    return sorted(jobs, key=lambda d: (len(d.name), d.name))  # 2 before 10


def jobs_by_recipe(sweeps: list[Path]) -> list[Path]:
    """The folders for the report: every job of the sweeps, grouped by recipe (in the order
    the recipes first appear), each recipe's readings in sweep order, so they sit side by
    side in the table. A sweep folder without job folders is passed as itself (the report
    then says what is wrong with it); one that was never written (the sweep failed before
    its jobs, and said why) is left out, so the other sweeps are still reported."""
    order: dict[str | None, list[Path]] = {}
    folders: list[Path] = []
    for sweep in sweeps:
        jobs = sweep_jobs(sweep)
        if not jobs and sweep.exists():
            folders.append(sweep)
        for job in jobs:
            order.setdefault(_recipe(job), []).append(job)
    return [job for jobs in order.values() for job in jobs] + folders


def evaluate(
    evaluation: Evaluation, sweeps: list[Path], folder: Path, settings: list[str]
) -> tuple[Path, bool]:
    """Run ``evaluation`` on the checkpoint its recipe's job tested; returns its folder and
    whether it ran (a missing or failed job leaves nothing to evaluate)."""
    out = folder / "evaluations" / evaluation.name
    jobs = [job for sweep in sweeps for job in sweep_jobs(sweep)]
    job = next((j for j in jobs if _recipe(j) == evaluation.recipe), None)
    ckpt = None
    if job is not None and (job / "test_metrics.json").is_file():
        ckpt = json.loads((job / "test_metrics.json").read_text()).get("ckpt_path")
    if not ckpt:
        print(f"note: no tested checkpoint of {evaluation.recipe}: {evaluation.name} not run")
        return out, False
    given = [s for s in settings if s.startswith(EVALUATE_SETTINGS)]
    command = [
        sys.executable, "-m", "sports_rec.evaluate", f"ckpt_path={ckpt}",
        *evaluation.overrides, *given, f"hydra.run.dir={out}",
    ]  # fmt: skip
    print(f"\n=== evaluation {evaluation.name}: {' '.join(command[3:])}")
    return out, subprocess.run(command, check=False).returncode == 0


def run(
    name: str,
    data_root: str | None = None,
    smoke: bool = False,
    out: str | Path | None = None,
    extra: list[str] | None = None,
) -> int:
    """Run study ``name``'s sweeps and report; returns the exit status (0: all jobs ran)."""
    if name not in STUDIES:
        raise TableError(f"unknown study {name!r}; one of {sorted(STUDIES)}")
    study = STUDIES[name]
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    folder = Path(out) if out else PROJECT_ROOT / "multirun" / "tables" / stamp / name
    folder = folder.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    root = _smoke_root(study, folder) if smoke else _check_root(study, name, data_root)
    # smoke runs keep derived data (a video frame cache) in their own folder
    smoke_paths = (f"paths.cache_dir={folder / 'cache'}",) if smoke else ()
    settings = [*(study.smoke if smoke else ()), *smoke_paths, *(extra or [])]
    status = 0
    sweeps = []
    for number, overrides in enumerate(study.sweeps_for(smoke)):
        if needs_pose_backend(overrides) and not backend_installed(DEFAULT_BACKEND):
            print(
                f"\nnote: sweep {number} ({' '.join(overrides)}) skipped: its recipes estimate "
                f"keypoints with {DEFAULT_BACKEND}, which is not installed. {INSTALL_HINT}"
            )
            continue
        sweep = folder / f"sweep{number}"
        command = [
            sys.executable, "-m", "sports_rec.train", "-m", *overrides, f"data.root={root}",
            *settings, f"hydra.sweep.dir={sweep}",
        ]  # fmt: skip
        print(f"\n=== study {study.seed} ({name}), sweep {number}: {' '.join(command[3:])}")
        status |= subprocess.run(command, check=False).returncode
        sweeps.append(sweep)
    evaluations = []
    for evaluation in study.evaluations:
        done, ran = evaluate(evaluation, sweeps, folder, settings)
        status |= 0 if ran else 1
        evaluations += [done] if ran else []
    published = published_path(study.published)  # shipped in the package
    runs = ",".join(map(str, jobs_by_recipe(sweeps)))
    report = [
        sys.executable, "-m", "sports_rec.report", f"runs=[{runs}]",
        f"out={folder / 'report'}", f"hydra.run.dir={folder / 'report'}",
    ]  # fmt: skip
    if evaluations:
        report.append(f"evaluations=[{','.join(map(str, evaluations))}]")
    if published.is_file():
        report.append(f"published={published}")
    else:
        print(f"note: {published} not found; no published column")
    print(f"\n=== report of study {study.seed} ({name})")
    status |= subprocess.run(report, check=False).returncode
    return 1 if status else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sports_rec.tables",
        description="Reproduce a study's table: run its recipes, then report beside the "
        "published numbers.",
    )
    parser.add_argument("study", choices=sorted(STUDIES))
    parser.add_argument("--data-root", default=None, help="the dataset folder (DATA_ROOT)")
    parser.add_argument("--smoke", action="store_true", help="synthetic layout, tiny settings")
    parser.add_argument("--out", default=None, help="output folder (default multirun/tables/)")
    parser.epilog = "Overrides after -- go to every job, e.g. -- model.net.weights=PATH"
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    try:
        status = run(args.study, args.data_root, args.smoke, args.out, extra)
    except SportsRecError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    sys.exit(status)


if __name__ == "__main__":
    main()
