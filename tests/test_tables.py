"""Every study table (``make table-<study> SMOKE=1``): its recipes as sweeps on the synthetic
layout, then the report beside the published numbers; and each recipe as the study has it."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from sports_rec.pose_estimation.registry import backend_installed
from sports_rec.reporting.across_runs.published import read_published
from sports_rec.tables import STUDIES
from tests.conftest import PROJECT_ROOT, expect_user_error, run_cli

pytestmark = pytest.mark.slow
POSE_INSTALLED = backend_installed("mediapipe")


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{study: output folder}`` of every SMOKE table, run as make runs it.

    Two tables at a time, one thread each: a smoke job is mostly start-up, composition and
    artefact writing on one core, so two make good use of a 2-core CI machine; each table
    has its own folder, synthetic data and caches."""
    out = tmp_path_factory.mktemp("tables")

    def table(study: str) -> Path:
        run_cli(
            "sports_rec.tables",
            study,
            "--smoke",
            "--out",
            str(out / study),
            cwd=PROJECT_ROOT,
            env={"OMP_NUM_THREADS": "1"},
        )
        return out / study

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(STUDIES, pool.map(table, STUDIES), strict=True))


def jobs(folder: Path) -> dict[str, Path]:
    """``{"<sweep> <recipe> [transforms=...]": job folder}`` of a table's sweeps."""
    found = {}
    for job in sorted(folder.glob("sweep*/[0-9]*")):
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        chosen = [o for o in overrides if o.split("=")[0] in ("experiment", "transforms")]
        found[" ".join([job.parent.name, *chosen])] = job
    return found


def hparams(job: Path) -> dict:
    ckpt = next((job / "checkpoints").glob("*.ckpt"))
    return torch.load(ckpt, map_location="cpu", weights_only=True)["hyper_parameters"]


@pytest.mark.parametrize("study", list(STUDIES))
def test_smoke_table_has_a_row_per_job_beside_the_published_numbers(
    tables: dict[str, Path], study: str
) -> None:
    report = tables[study] / "report"
    table = pd.read_csv(report / "report.csv")
    # sports100: 5 recipes; sports balls: 2 recipes x 2 readings; workout: 2 recipes + 1
    # reading; infiniteform: the 7 models, then model 4 in each other reading (gamma 0.01,
    # the fc as "final layer", both; the full table runs models 1-6 / 2, 4-6 there: 21
    # jobs); exercise video: 5 C3D recipes (+ 1 evaluation)
    # + beyond the studies, with the pose extra: sports100's and workout's keypoint recipes
    kp = int(POSE_INSTALLED)
    expected_jobs = {
        "sports100": 5 + kp, "sports_balls": 4, "workout": 3 + kp, "infiniteform": 10,
        "exercise_video": 5,
    }[study]  # fmt: skip
    assert len(jobs(tables[study])) == expected_jobs
    assert len(table) == expected_jobs + len(STUDIES[study].evaluations)
    assert (table["status"] == "completed").all()
    published = read_published(PROJECT_ROOT / STUDIES[study].published)
    for metric, source in published[["metric", "source"]].drop_duplicates().itertuples(index=False):
        assert f"{metric} [{source}] (published)" in table.columns, (metric, source)
    for name in ("report.md", "report.png", "curves.png", "report.html"):
        assert (report / name).is_file(), name


def test_sports100_recipes(tables: dict[str, Path]) -> None:
    found = jobs(tables["sports100"])
    assert set(found) == {
        f"sweep0 experiment=sports100/{m}"
        for m in ("resnet50", "mobilenetv2", "convnext_tiny", "convnext_tiny_v1", "vit")
    } | ({"sweep1 experiment=sports100/resnet50_kp"} if POSE_INSTALLED else set())
    names = {}
    for recipe, job in found.items():
        if recipe.endswith("_kp"):  # beyond the study: test_keypoint_recipes_beyond_the_studies
            continue
        h = hparams(job)
        names[recipe] = h["net"]["name"]
        assert h["net"]["head"] == [256] and h["net"]["head_dropout"] == 0.2
        assert h["optimizer"]["_target_"] == "torch.optim.Adam"
        vit = recipe.endswith("/vit")
        assert h["optimizer"]["weight_decay"] == (1e-4 if vit else 0.0)  # ViT: coupled L2
        assert h["regularization"] == ({"l1": 0.0, "l2": 0.0} if vit else {"l1": 1e-6, "l2": 1e-5})
        assert h["metadata"]["transforms"]["eval"]["crop_pct"] == 1.0  # 224 px images, no cut
        norms = pd.read_csv(job / "weight_norms.csv")
        assert sorted(norms["epoch"].unique()) == [-1, 0]
        assert norms[norms["head"]]["layer"].tolist()[:2] == ["head.0", "head.3"]
        assert (job / "plots" / "weight_norms_layers.png").is_file()
        assert (job / "plots" / "weight_norms_head.png").is_file()
    assert names["sweep0 experiment=sports100/convnext_tiny"] == "convnextv2_tiny"
    assert names["sweep0 experiment=sports100/convnext_tiny_v1"] == "convnext_tiny"


def test_sports_balls_recipes_evaluate_the_test_set_every_epoch(tables: dict[str, Path]) -> None:
    found = jobs(tables["sports_balls"])
    assert len(found) == 4  # 2 recipes x the notebook's and the text's augmentation
    for recipe, job in found.items():
        info = json.loads((job / "run_info.json").read_text())
        assert info["val_is_test"] is True
        assert "validation = the test split" in (job / "data_report.txt").read_text()
        splits = pd.read_csv(job / "splits.csv")
        assert set(splits["split"]) == {"train", "test"}  # nothing carved off train
        result = json.loads((job / "test_metrics.json").read_text())
        assert result["ckpt_path"].endswith("last.ckpt")  # the final epoch, as reported
        h = hparams(job)
        pool = "max" if "max_adam" in recipe else "avg"
        assert h["net"]["global_pool"] == pool
        assert h["optimizer"]["_target_"].endswith("Adam" if pool == "max" else "SGD")
        if pool == "avg":
            assert h["optimizer"]["momentum"] == 0.8 and h["optimizer"]["nesterov"] is True
        train = h["metadata"]["transforms"]["train"]
        if "transforms=plain" in recipe:
            assert train["train"] is False  # the text: resized, no augmentation
        else:
            assert train["_target_"].endswith("TimmTransform") and train["train"] is True


def test_workout_recipes_rebalance_before_the_random_split(tables: dict[str, Path]) -> None:
    found = jobs(tables["workout"])
    # sweep 1 is AlexNet at LeNet's 200 px (reading (a)); SMOKE shrinks every job's images
    assert set(found) == {
        "sweep0 experiment=workout/lenet",
        "sweep0 experiment=workout/alexnet",
        "sweep1 experiment=workout/alexnet",
    } | ({"sweep2 experiment=workout/resnet_kp"} if POSE_INSTALLED else set())
    for job in found.values():
        line = next(
            row
            for row in (job / "data_report.txt").read_text().splitlines()
            if row.startswith("rebalanced before splitting")
        )
        before, after = (json.loads(part) for part in re.findall(r"\[[\d, ]+\]", line))
        cap = int(np.median(before))  # target: median
        assert after == [min(count, cap) for count in before]
        assert max(before) > cap, "the synthetic classes are uneven: something was cut"
        splits = pd.read_csv(job / "splits.csv")
        assert splits["label"].value_counts().sort_index().tolist() == after
        assert set(splits["split"]) == {"train", "valid", "test"}  # the random 80/10/10
        assert hparams(job)["metadata"]["channels"] == 1
        assert json.loads((job / "test_metrics.json").read_text())["ckpt_path"].endswith(
            "last.ckpt"
        )


@pytest.mark.skipif(not POSE_INSTALLED, reason="the keypoint recipes need the pose extra")
def test_keypoint_recipes_beyond_the_studies(tables: dict[str, Path]) -> None:
    """sports100/resnet50_kp and workout/resnet_kp: the study's data, a net fused with
    keypoints estimated from every image (study 003's idea), marked beyond the study."""
    kp = {
        key: job
        for study in ("sports100", "workout")
        for key, job in jobs(tables[study]).items()
        if key.endswith("_kp")
    }
    assert len(kp) == 2
    for job in kp.values():
        h = hparams(job)
        spec = {entry["name"]: entry["shape"] for entry in h["metadata"]["input_spec"]}
        assert spec["keypoints"] == [51]
        assert h["metadata"]["data"]["dataset"]["keypoints"] == "estimate"
        assert h["net"]["extra_inputs"] == ["keypoints"]
        config = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        assert "beyond_study" in config["tags"]
        assert json.loads((job / "run_info.json").read_text())["status"] == "completed"


def test_infiniteform_recipes_are_the_studys_seven_models(tables: dict[str, Path]) -> None:
    every = jobs(tables["infiniteform"])
    found = {key.split("/")[-1]: job for key, job in every.items() if key.startswith("sweep0 ")}
    assert set(found) == {"baseline", "m1_frozen", "m2_unfrozen", "m3_frozen_kp",
                          "m4_unfrozen_kp", "m5_kp_head2", "m6_kp_head3"}  # fmt: skip
    # The baseline is not trained: evaluated on train (epoch -1 of metrics.csv) and test.
    baseline = found["baseline"]
    assert pd.read_csv(baseline / "metrics.csv")["epoch"].tolist() == [-1]
    assert (baseline / "train_metrics.json").is_file()
    assert json.loads((baseline / "run_info.json").read_text()).get("epochs") is None
    expected = {
        "m1_frozen": ("backbone", [], []),
        "m2_unfrozen": ("all_but_last_stage", [], []),
        "m3_frozen_kp": ("backbone", ["keypoints"], []),
        "m4_unfrozen_kp": ("all_but_last_stage", ["keypoints"], []),
        "m5_kp_head2": ("all_but_last_stage", ["keypoints"], [512]),
        "m6_kp_head3": ("all_but_last_stage", ["keypoints"], [512, 256]),
    }
    for name, (freeze, extra, head) in expected.items():
        h = hparams(found[name])
        net = h["net"]
        assert (net["freeze"], list(net["extra_inputs"]), list(net["head"])) == (
            freeze,
            extra,
            head,
        )
        assert net["name"] == "resnet50.tv_in1k" and net["freeze_bn_stats"] is False
        assert h["optimizer"]["lr"] == 0.001 and h["scheduler"]["scheduler"]["step_size"] == 7
        assert h["metadata"]["transforms"]["eval"]["mean"] == [0.485, 0.456, 0.406]
        spec = {e["name"]: e["shape"] for e in h["metadata"]["input_spec"]}
        assert spec["keypoints"] == [51]
        info = json.loads((found[name] / "run_info.json").read_text())
        assert info["val_is_test"] is True and info["trainable_params"] < info["params"]
        assert h["scheduler"]["scheduler"]["gamma"] == 0.1
    # the other readings: gamma 0.01 (sweeps 1, 3) and the fc as "final layer" (sweeps 2, 3)
    for key, job in every.items():
        if key.endswith("/baseline"):
            continue  # not trained: no checkpoint
        h = hparams(job)
        sweep = int(key.split()[0].removeprefix("sweep"))
        assert h["scheduler"]["scheduler"]["gamma"] == (0.01 if sweep in (1, 3) else 0.1)
        if sweep >= 2:
            assert (h["net"]["features"], h["net"]["freeze"]) == ("logits", "all_but_classifier")
    # the full table: every unfrozen model in each reading, the frozen ones per gamma
    full = [" ".join(sweep) for sweep in STUDIES["infiniteform"].sweeps]
    assert len(full) == 4 and "infiniteform/m6_kp_head3" in full[3] and "m1_frozen" in full[1]
    report = pd.read_csv(tables["infiniteform"] / "report" / "report.csv")
    assert set(report["reading"]) == {
        f"{f}, gamma {g}" for f in ("layer4", "fc") for g in ("0.1", "0.01")
    }


def test_exercise_video_recipes_are_the_studys_pipeline(tables: dict[str, Path]) -> None:
    found = {key.split("/")[-1]: job for key, job in jobs(tables["exercise_video"]).items()}
    assert set(found) == {"c3d_baseline", "c3d_downsample", "c3d_masks", "c3d_skeleton",
                          "c3d_all"}  # fmt: skip
    additions = {
        "c3d_baseline": (None, False, False),
        "c3d_downsample": (1, False, False),
        "c3d_masks": (None, True, False),
        "c3d_skeleton": (None, False, True),
        "c3d_all": (1, True, True),
    }
    for name, (downsample, masks, skeleton) in additions.items():
        job = found[name]
        h = hparams(job)
        dataset = h["metadata"]["data"]["dataset"]
        assert (dataset["downsample"], dataset["use_masks"], dataset["skeleton_attention"]) == (
            downsample,
            masks,
            skeleton,
        )
        assert (dataset["clip_len"], dataset["train_stride"], dataset["eval_stride"]) == (16, 8, 16)
        assert h["net"]["_target_"].endswith("C3D")
        assert (h["loss"]["gamma"], h["loss"]["class_weights"]) == (2.0, "auto")
        assert h["optimizer"]["_target_"] == "torch.optim.AdamW"
        assert (h["optimizer"]["lr"], h["optimizer"]["weight_decay"]) == (1e-4, 1e-5)
        plateau = h["scheduler"]["scheduler"]
        assert (plateau["factor"], plateau["patience"], plateau["min_lr"]) == (0.5, 5, 1e-7)
        assert h["scheduler"]["monitor"] == "val/loss"
        cfg = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        assert (cfg["trainer"]["gradient_clip_val"], cfg["seed"]) == (1.0, 42)
        assert cfg["sampler"]["strategy"] == "weighted"
        stopping = cfg["callbacks"]["early_stopping"]
        assert (stopping["monitor"], stopping["patience"], stopping["min_delta"]) == (
            "val/acc",
            10,
            0.001,
        )
        assert (job / "plots" / "per_class_heatmap.png").is_file()  # the study's figures
        assert (job / "analysis" / "split_statistics.csv").is_file()
        periodic = cfg["callbacks"]["model_checkpoint_every"]
        assert (periodic["every_n_epochs"], periodic["save_top_k"]) == (10, 3)
        report = (job / "data_report.txt").read_text()
        assert ("downsampled once" in report) == (downsample is not None)
        clips = pd.read_csv(job / "clips.csv")
        assert set(clips["split"]) == {"train", "valid", "test"}
        assert (clips["used"] == False).any() == (downsample is not None)  # noqa: E712
        assert (job / "per_class_accuracy.csv").is_file()
        info = json.loads((job / "run_info.json").read_text())
        assert info["val_is_test"] is True
        assert (job / "test_predictions.csv").is_file()
    # the reported run tested again without skeleton attention, beside it in the report
    report = pd.read_csv(tables["exercise_video"] / "report" / "report.csv")
    tested = report[report["tested with"].notna()]
    assert tested["tested with"].tolist() == ["data.dataset.skeleton_attention=false"]
    assert report.index[report["tested with"].notna()][0] - 1 == int(
        report.index[report["experiment"].eq("exercise_video/c3d_all")][0]
    )
    assert (tables["exercise_video"] / "report" / "per_class_published.csv").is_file()


def test_a_table_without_data_names_the_layout_and_the_download(tmp_path: Path) -> None:
    result = run_cli("sports_rec.tables", "sports_balls", cwd=PROJECT_ROOT, check=False)
    expect_user_error(
        result,
        "DATA_ROOT is required",
        "train/<class>/ and test/<class>/",
        "python -m sports_rec.download sports_balls --out DIR",
        "SMOKE=1",
    )
