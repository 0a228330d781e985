"""Edges of studies 003 and 004 (issue 16, items 8-10): InfiniteForm's table runs both
readings of "unfrozen final layer" and both StepLR gammas, labelled; study 004's test-time
preprocessing can be overridden at evaluate (its evaluate script had no skeleton
attention), the table adds that row, clip models write ``test_predictions.csv``, the
published per-class tables and confusions are compared, explain follows the recipe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from sports_rec import tables
from sports_rec.builders import merged_data_config
from sports_rec.data.synthetic import SyntheticSpec, ensure_synthetic
from sports_rec.errors import ConfigError
from sports_rec.evaluate import evaluate
from sports_rec.reporting.across_runs.evaluations import TESTED_WITH, with_evaluations
from sports_rec.reporting.across_runs.published import (
    PublishedFormatError,
    read_published,
    read_published_classes,
)
from sports_rec.reporting.across_runs.report_files import write_report
from sports_rec.reporting.across_runs.report_table import report_table
from sports_rec.reporting.across_runs.runs import load_runs
from tests.conftest import PROJECT_ROOT, compose_config, run_cli

VIDEO_CSV = PROJECT_ROOT / "experiments" / "exercise_video_004" / "published.csv"
RECIPE = PROJECT_ROOT / "sports_rec" / "conf" / "experiment" / "exercise_video" / "common.yaml"
CLASSES = 5


# ------------------------------------------------------------- 003: both readings swept


def expanded_jobs(sweeps: tuple[tuple[str, ...], ...]) -> list[dict[str, str]]:
    """Each job of the sweeps as ``{key: value}`` (comma lists expanded as Hydra does)."""
    parser = OverridesParser.create()
    jobs = []
    for number, sweep in enumerate(sweeps):
        parsed = parser.parse_overrides(list(sweep))
        fixed = {o.key_or_group.lstrip("+"): o.value() for o in parsed if not o.is_sweep_override()}
        swept = [o for o in parsed if o.is_sweep_override()]
        assert [o.key_or_group for o in swept] == ["experiment"], sweep
        for recipe in swept[0].value().list:
            jobs.append({"sweep": str(number), "experiment": recipe, **fixed})
    return jobs


def test_infiniteform_table_runs_both_final_layer_readings_and_both_gammas() -> None:
    jobs = expanded_jobs(tables.STUDIES["infiniteform"].sweeps)
    runs: dict[str, set[tuple[str, str, str]]] = {}
    for job in jobs:
        model = job["experiment"].split("/")[-1]
        final = "fc" if job.get("model.net.freeze") == "all_but_classifier" else "layer4"
        if final == "fc":
            assert job["model.net.features"] == "logits"
        gamma = str(job.get("scheduler.scheduler.gamma", "0.1"))  # the recipes' STATED 0.1
        assert job["reading"] == f"{final}, gamma {gamma}"  # each row says which reading
        runs.setdefault(model, set()).add((final, gamma, job["reading"]))
    readings = {(f, g) for f in ("layer4", "fc") for g in ("0.1", "0.01")}
    for unfrozen in ("m2_unfrozen", "m4_unfrozen_kp", "m5_kp_head2", "m6_kp_head3"):
        assert {(f, g) for f, g, _ in runs[unfrozen]} == readings, unfrozen
    for frozen in ("m1_frozen", "m3_frozen_kp"):  # nothing unfrozen: only the gamma varies
        assert {(f, g) for f, g, _ in runs[frozen]} == {("layer4", "0.1"), ("layer4", "0.01")}
    assert len(runs["baseline"]) == 1  # not trained: no gamma
    assert len(jobs) == 4 * 4 + 2 * 2 + 1


@pytest.mark.parametrize("number", range(len(tables.STUDIES["infiniteform"].sweeps)))
def test_infiniteform_sweeps_compose_without_their_recipes(number: int, tmp_path: Path) -> None:
    # A multirun composes the sweep's own config before the swept experiment: every other
    # override must exist there (a gamma under the default cosine scheduler did not).
    sweep = tables.STUDIES["infiniteform"].sweeps[number]
    fixed = [o for o in sweep if not o.startswith("experiment=")]
    cfg = compose_config("train", fixed, tmp_path / "run", tmp_path)
    if "scheduler.scheduler.gamma=0.01" in fixed:
        assert cfg.scheduler.scheduler.gamma == 0.01


def _fake_job(folder: Path, overrides: list[str], acc: float) -> None:
    (folder / ".hydra").mkdir(parents=True)
    config = {"task_name": "train", "data": {"name": "infiniteform"}, "model": {"net": {}}}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (folder / "test_metrics.json").write_text(json.dumps({"test/acc": acc}))


def test_infiniteform_readings_sit_side_by_side_labelled(tmp_path: Path) -> None:
    study = tables.STUDIES["infiniteform"]
    sweeps = []
    for number, sweep in enumerate(study.sweeps):
        folder = tmp_path / f"sweep{number}"
        jobs = [j for j in expanded_jobs(study.sweeps) if j["sweep"] == str(number)]
        fixed = [o for o in sweep if not o.startswith("experiment=")]
        for n, job in enumerate(jobs):
            _fake_job(folder / str(n), [f"experiment={job['experiment']}", *fixed], 0.5)
        sweeps.append(folder)
    table = report_table(load_runs(tables.jobs_by_recipe(sweeps)))
    m2 = table[table["experiment"] == "infiniteform/m2_unfrozen"]
    assert m2["reading"].tolist() == [
        "layer4, gamma 0.1",
        "layer4, gamma 0.01",
        "fc, gamma 0.1",
        "fc, gamma 0.01",
    ]
    assert m2.index.tolist() == list(range(m2.index[0], m2.index[0] + 4))  # adjacent rows
    assert table["experiment"].drop_duplicates().tolist()[0] == "infiniteform/baseline"


# ------------------------------------------------------------- 004: the table's extra row


def test_table_video_tests_the_reported_run_without_skeleton_attention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []

    def fake_run(command: list[str], check: bool = False) -> subprocess.CompletedProcess:
        commands.append(command)
        module = command[2]
        if module == "sports_rec.train":  # the sweep: one job per recipe, tested
            sweep = Path(next(c for c in command if c.startswith("hydra.sweep.dir=")).split("=")[1])
            recipes = next(c for c in command if c.startswith("experiment=")).split("=")[1]
            for n, recipe in enumerate(recipes.split(",")):
                _fake_job(sweep / str(n), [f"experiment={recipe}"], 0.7)
                ckpt = sweep / str(n) / "checkpoints" / "best.ckpt"
                (sweep / str(n) / "test_metrics.json").write_text(
                    json.dumps({"test/acc": 0.7, "ckpt_path": str(ckpt)})
                )
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(tables.subprocess, "run", fake_run)
    data = tmp_path / "videos"
    data.mkdir()
    status = tables.run(
        "exercise_video",
        data_root=str(data),
        out=tmp_path / "table",
        extra=["trainer.devices=1", "model.net.width=8"],
    )
    assert status == 0
    modules = [c[2] for c in commands]
    assert modules == ["sports_rec.train", "sports_rec.evaluate", "sports_rec.report"]
    evaluate_command = commands[1]
    c3d_all = tmp_path / "table" / "sweep0" / "4"  # c3d_all: the sweep's 5th recipe
    assert f"ckpt_path={c3d_all / 'checkpoints' / 'best.ckpt'}" in evaluate_command
    assert "data.dataset.skeleton_attention=false" in evaluate_command
    assert "trainer.devices=1" in evaluate_command  # the trainer settings go along,
    assert "model.net.width=8" not in evaluate_command  # training's do not
    out = tmp_path / "table" / "evaluations" / "c3d_all_tested_without_skeleton_attention"
    assert f"hydra.run.dir={out}" in evaluate_command
    assert f"evaluations=[{out}]" in commands[2]


# ------------------------------------------------------------- 004: evaluate, end to end


@pytest.fixture(scope="module")
def c3d_all_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reported run's recipe (downsampling, masks, skeleton attention), tiny: a narrow
    C3D, 32 px, 5 classes, 2 training batches; trained from the command line (the report
    needs its .hydra folder)."""
    root = tmp_path_factory.mktemp("edges")
    spec = SyntheticSpec("exercise_video", classes=CLASSES, per_class=48, eval_per_class=32,
                         size=32, seed=0)  # fmt: skip
    data = ensure_synthetic(spec, root / "data")
    run_cli(
        "sports_rec.train",
        "experiment=exercise_video/c3d_all",
        f"data.root={data}",
        f"data.layout.num_classes={CLASSES}",
        "model.net.width=8",
        "data.image_size=32",
        "data.dataset.cache_workers=0",
        "data.num_workers=0",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.accelerator=cpu",
        "trainer.precision=32-true",  # as evaluate runs here (no bf16 on AMX CPUs)
        "callbacks.rich_progress_bar=null",
        "callbacks.epoch_metrics.plots=false",
        "callbacks.epoch_metrics.per_class_plots=false",
        "logger=none",
        "print_config=false",
        f"paths.root_dir={root}",
        f"paths.cache_dir={root / 'cache'}",
        f"hydra.run.dir={root / 'run'}",
        cwd=root,
    )
    return root / "run"


def _evaluate(run: Path, out: Path, *overrides: str) -> dict:
    ckpt = json.loads((run / "test_metrics.json").read_text())["ckpt_path"]
    cfg = compose_config(
        "evaluate",
        [f"ckpt_path={ckpt}", "trainer.accelerator=cpu", "callbacks.rich_progress_bar=null",
         *overrides],
        out,
        out.parent,
    )  # fmt: skip
    evaluate(cfg)
    return json.loads((out / "test_metrics.json").read_text())


def _built_datamodules(monkeypatch: pytest.MonkeyPatch) -> list:
    """The datamodules evaluate builds, kept for inspection."""
    import sports_rec.evaluate as evaluate_module

    built = []
    build = evaluate_module.build_datamodule

    def spy(*args: object, **kwargs: object) -> object:
        built.append(build(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(evaluate_module, "build_datamodule", spy)
    return built


@pytest.mark.slow  # c3d_all_run: a training run through the CLI
def test_clip_models_write_test_predictions(c3d_all_run: Path) -> None:
    predictions = pd.read_csv(c3d_all_run / "test_predictions.csv")
    assert predictions.columns.tolist() == [
        "clip", "video", "start_frame", "true", "predicted", "probability", "correct",
        "label_1", "prob_1", "label_2", "prob_2", "label_3", "prob_3",
    ]  # fmt: skip
    clips = pd.read_csv(c3d_all_run / "clips.csv")
    test = clips[(clips["split"] == "test") & clips["used"]].reset_index(drop=True)
    assert len(predictions) == len(test) > 0
    assert predictions["start_frame"].tolist() == test["start_frame"].tolist()
    assert predictions["true"].tolist() == test["label"].tolist()
    assert (predictions["predicted"] == predictions["label_1"]).all()
    assert (predictions["prob_1"] >= predictions["prob_2"]).all()
    assert (predictions["correct"] == (predictions["true"] == predictions["predicted"])).all()
    result = json.loads((c3d_all_run / "test_metrics.json").read_text())
    assert predictions["correct"].mean() == pytest.approx(result["test/acc"], abs=1e-6)
    top3 = predictions[["label_1", "label_2", "label_3"]].eq(predictions["true"], axis=0)
    assert top3.any(axis=1).mean() == pytest.approx(result["test/acc_top3"], abs=1e-6)


@pytest.mark.slow
def test_evaluate_overrides_the_checkpoints_skeleton_attention(
    c3d_all_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _built_datamodules(monkeypatch)
    same = _evaluate(c3d_all_run, tmp_path / "same")
    assert same["data_overrides"] == {}  # tested as trained
    trained = pd.read_csv(c3d_all_run / "test_predictions.csv")
    again = pd.read_csv(tmp_path / "same" / "test_predictions.csv")
    assert (trained["prob_1"] - again["prob_1"]).abs().max() < 1e-5

    without = _evaluate(c3d_all_run, tmp_path / "without", "data.dataset.skeleton_attention=false")
    assert without["data_overrides"] == {"dataset.skeleton_attention": False}
    changed = pd.read_csv(tmp_path / "without" / "test_predictions.csv")
    assert len(changed) == len(trained)  # the same clips (the reader still needs the poses)
    stored, overridden = (dm.eval_dataloader("test").dataset for dm in built)
    assert (stored.attention, stored.use_masks) == (True, True)  # the checkpoint's
    assert (overridden.attention, overridden.use_masks) == (False, True)  # the override won
    assert not (stored.load(0) == overridden.load(0)).all()  # other frames reach the net


def test_nested_data_overrides_win_and_unknown_ones_are_refused() -> None:
    stored = {"root": "/d", "dataset": {"use_masks": True, "skeleton_attention": True}}
    given = OmegaConf.create(
        {"root": None, "dataset": {"use_masks": None, "skeleton_attention": False}}
    )
    merged = merged_data_config(stored, given, "/out")
    assert merged.dataset.skeleton_attention is False and merged.dataset.use_masks is True
    image = {"root": "/d", "dataset": {"encoding": "pixels"}}
    with pytest.raises(ConfigError, match=r"data\.dataset\.use_masks: the checkpoint.s data"):
        merged_data_config(image, OmegaConf.create({"dataset": {"use_masks": False}}), "/o")


# ------------------------------------------------------------- 004: report and published


def test_published_per_class_tables_and_confusions_of_study_004() -> None:
    assert len(read_published(VIDEO_CSV)) == 8  # the run-level values, as before
    rows = read_published_classes(VIDEO_CSV)
    value = rows.pivot_table(index="class", columns="metric", values="value", aggfunc="first")
    assert len(value.dropna(subset=["class_recall"])) == 16  # classes 1-16
    support = value["class_support"]
    assert support.sum() == 11861  # the study's validation (= test) clips
    accuracy = (value["class_recall"] * support).sum() / support.sum()
    assert accuracy == pytest.approx(0.7311, abs=1e-4)  # its overall test accuracy
    confusions = rows[rows["metric"].str.startswith("confusion")]
    count = confusions.pivot_table(index=["class", "predicted"], columns="metric", values="value")
    assert len(count) == 5
    for (true, _), row in count.iterrows():
        assert row["confusion_fraction"] == pytest.approx(
            row["confusion_count"] / support[true], abs=6e-4
        )
    for other in ("sports100_000", "sports_balls_001", "workout_002", "infiniteform_003"):
        path = PROJECT_ROOT / "experiments" / other / "published.csv"
        assert len(read_published(path)) > 0 and read_published_classes(path).empty


def test_published_class_columns_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "published.csv"
    header = "recipe,metric,value,source,note,class,predicted\n"
    path.write_text(header + "a/b,test_accuracy,0.5,text,l.1,3,\n")
    with pytest.raises(PublishedFormatError, match="test_accuracy is not per class"):
        read_published(path)
    path.write_text(header + "a/b,class_recall,0.5,text,l.1,,\n")
    with pytest.raises(PublishedFormatError, match="class_recall needs a class"):
        read_published(path)
    path.write_text(header + "a/b,confusion_count,5,text,l.1,3,\n")
    with pytest.raises(PublishedFormatError, match="confusion_count needs a predicted"):
        read_published(path)


@pytest.mark.slow
def test_report_puts_the_evaluation_beside_its_run_with_per_class_tables(
    c3d_all_run: Path, tmp_path: Path
) -> None:
    evaluation = tmp_path / "c3d_all_tested_without_skeleton_attention"
    _evaluate(c3d_all_run, evaluation, "data.dataset.skeleton_attention=false")
    runs = with_evaluations(load_runs([c3d_all_run]), [evaluation])
    published = read_published(VIDEO_CSV)
    classes = read_published_classes(VIDEO_CSV)
    _, files = write_report(runs, tmp_path / "report", published, True, classes)
    table = pd.read_csv(files["report.csv"])
    assert table["folder"].tolist() == ["run", evaluation.name]
    # called by what differs: the evaluation by its test-time setting
    assert table["run"].tolist() == ["run", "data.dataset.skeleton_attention=false"]
    assert table[TESTED_WITH].fillna("-").tolist() == [
        "-",
        "data.dataset.skeleton_attention=false",
    ]
    assert (table["test_accuracy [text] (published)"] == 0.7311).all()  # both beside 73.11
    compared = pd.read_csv(files["per_class_published.csv"], dtype={"class": str})
    assert set(compared["run"]) == {"run", "data.dataset.skeleton_attention=false"}
    own = pd.read_csv(c3d_all_run / "per_class.csv").set_index("class_name")
    recall = compared[(compared["run"] == "run") & (compared["metric"] == "class_recall")]
    got = recall.set_index("class")["value"]
    assert got["1"] == pytest.approx(own.loc[1, "recall"])
    assert pd.isna(got["16"])  # the tiny run has classes 0-4 only
    assert recall.set_index("class").loc["12", "published"] == 0.0947
    markdown = files["report.md"].read_text()
    assert "## Per-class results beside the published" in markdown
    assert "Published top confusions" in markdown
    assert "Per-class results beside the published" in files["report.html"].read_text()


# ------------------------------------------------------------- 004: explain and recipes


@pytest.mark.slow
def test_explain_follows_the_recipes_samples_and_fps(
    c3d_all_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sports_rec.explain as explain_module

    ckpt = json.loads((c3d_all_run / "test_metrics.json").read_text())["ckpt_path"]
    seen = {}

    class Stop(Exception):
        pass

    def stop(model: object, dataset: object, num_samples: int, *args: object, **kw: object) -> None:
        seen["num_samples"] = num_samples
        raise Stop

    monkeypatch.setattr(explain_module, "choose_samples", stop)
    for given, expected in (([], (20, 10)), (["fps=5", "num_samples=2"], (2, 5))):
        cfg = compose_config(
            "explain", [f"ckpt_path={ckpt}", *given], tmp_path / "explain", tmp_path
        )
        if not given:
            assert (cfg.num_samples, cfg.fps) == (16, 8)  # explain.yaml's own defaults
        with pytest.raises(Stop):
            explain_module.explain(cfg)
        assert (seen["num_samples"], cfg.fps) == expected  # the study's 20 and 10 fps
    recipe = yaml.safe_load(RECIPE.read_text())
    assert recipe["explain"] == {"num_samples": 20, "fps": 10}


def test_video_recipes_mark_the_weight_decay_of_biases_and_norms_chosen() -> None:
    text = RECIPE.read_text()
    block = text[text.index("  weight_decay:") : text.index("trainer:")]
    assert "CHOSEN: not applied to biases and BatchNorm" in block
    for line in text.splitlines():  # every explain setting says where it comes from
        if line.startswith("  ") and line.split(":")[0].strip() in ("num_samples", "fps"):
            assert "STATED l." in line, line
