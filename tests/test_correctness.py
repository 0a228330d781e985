"""Numbers that must be right: normalisation, weight decay, macro averages, which checkpoint
is tested, batch sizes under DDP, config checks, safe checkpoints, the hub probe."""

from __future__ import annotations

import pickle
import re
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from sports_rec.builders import checkpoint_to_test
from sports_rec.callbacks.checkpoints import RunCheckpoint
from sports_rec.checkpoint import CheckpointError, load_classifier, read_checkpoint
from sports_rec.data.datamodule import SportsDataModule
from sports_rec.data.formats.sports100 import read_sports100
from sports_rec.data.transforms import SCRATCH_DEFAULTS, model_data_config, resolve_transforms
from sports_rec.errors import ConfigError, SportsRecError
from sports_rec.models.classifier import Classifier
from sports_rec.models.metrics import per_class_metrics
from sports_rec.models.nets.timm_net import PretrainedWeightsUnavailable, create_timm_net
from sports_rec.reporting.per_run.artefacts import per_class_table
from sports_rec.utils.config_checks import check_train_config, optimized_value
from sports_rec.utils.run import unwrap_user_error

# ------------------------------------------------------------------ normalisation


def test_pretrained_nets_are_normalised_like_their_weights() -> None:
    vit = model_data_config({"name": "vit_base_patch16_224", "pretrained": True})
    assert vit == {"mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bicubic", "crop_pct": 0.9}
    local = model_data_config({"name": "resnet50", "weights": "/w/resnet50.safetensors"})
    assert local["mean"] == pytest.approx([0.485, 0.456, 0.406]) and local["crop_pct"] == 0.95
    # From scratch: ImageNet statistics, bilinear, the usual 0.875 crop.
    assert model_data_config({"name": "vit_base_patch16_224", "pretrained": False}) == (
        SCRATCH_DEFAULTS
    )
    assert model_data_config({"_target_": "sports_rec.models.nets.classic.LeNet"}) == (
        SCRATCH_DEFAULTS
    )


def test_explicit_transform_values_win_over_the_model(make_cfg) -> None:
    cfg = make_cfg(
        "model=vit",
        "model.net.pretrained=true",
        "transforms.eval.mean=[0.1,0.2,0.3]",
        "data.dataset.crop_pct=null",
    )
    resolved = resolve_transforms(
        OmegaConf.to_container(cfg.transforms, resolve=True),
        OmegaConf.to_container(cfg.model.net, resolve=True),
    )
    assert resolved["eval"]["mean"] == [0.1, 0.2, 0.3]  # given
    assert resolved["eval"]["std"] == [0.5, 0.5, 0.5]  # from the ViT weights
    assert resolved["train"]["mean"] == [0.5, 0.5, 0.5]
    assert resolved["eval"]["interpolation"] == "bicubic"
    assert resolved["eval"]["crop_pct"] == 0.9  # data.dataset.crop_pct=null: the weights' crop


def test_sports100_images_at_the_input_size_are_not_cropped(make_cfg) -> None:
    """sports100 images are 224 px already: evaluation must keep the whole image (a centre
    crop would cut 12.5 % of each side's content), also for a pretrained ResNet."""
    cfg = make_cfg("data=sports100", "model=resnet50", "model.net.pretrained=true", tiny=False)
    assert cfg.data.dataset.crop_pct == 1.0
    resolved = resolve_transforms(
        OmegaConf.to_container(cfg.transforms, resolve=True),
        OmegaConf.to_container(cfg.model.net, resolve=True),
    )
    evaluate = instantiate(resolved["eval"])
    pixels = np.zeros((224, 224, 3), np.uint8)
    pixels[:, :8] = 255  # a white band at the left edge
    out = evaluate(Image.fromarray(pixels))
    white = (1 - 0.485) / 0.229
    assert out.shape == (3, 224, 224)
    assert out[0, 112, 2].item() == pytest.approx(white, abs=1e-4)  # the edge is still there
    assert resolved["eval"]["interpolation"] == "bicubic"  # ResNet50 weights' resizing


def test_the_default_synthetic_run_does_not_crop_either(make_cfg) -> None:
    cfg = make_cfg()
    assert cfg.data.dataset.crop_pct == 1.0 and cfg.transforms.eval.crop_pct == 1.0


# ------------------------------------------------------------------ weight decay


def _classifier(make_cfg, *overrides: str) -> Classifier:
    from sports_rec.builders import build_classifier

    cfg = make_cfg(*overrides)
    metadata = {
        "class_names": ["a", "b", "c"],
        "class_counts": [3, 2, 1],
        "channels": 3,
        "image_size": 32,
        "data": {},
        "transforms": {},
    }
    return build_classifier(cfg, metadata)


@pytest.mark.parametrize("optimizer", ["adamw", "sgd", "adam"])
def test_weight_decay_applies_to_weights_only(make_cfg, optimizer: str) -> None:
    model = _classifier(make_cfg, f"optimizer={optimizer}", "optimizer.weight_decay=0.05")
    opt = model.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt
    decay_of = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    for name, param in model.net.named_parameters():
        expected = 0.05 if param.ndim > 1 else 0.0  # conv/linear weights vs biases, BN
        assert decay_of[id(param)] == expected, name
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.net.parameters()))


def test_vit_position_embedding_and_class_token_are_not_decayed(make_cfg) -> None:
    model = _classifier(make_cfg, "model=timm", "model.net.name=test_vit")
    groups = model.parameter_groups(0.1)
    no_decay = {id(p) for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    named = dict(model.net.named_parameters())
    assert id(named["pos_embed"]) in no_decay and id(named["cls_token"]) in no_decay
    assert id(named["blocks.0.attn.qkv.weight"]) not in no_decay


# ------------------------------------------------------------------ macro averages


def test_macro_averages_are_torchmetrics_and_absent_classes_are_marked() -> None:
    """Class 3 has no test sample and is never predicted: torchmetrics' macro leaves it out,
    a plain mean of the per-class values would count it as 0."""
    metrics = per_class_metrics(4)
    preds = torch.tensor([0, 0, 1, 1, 2, 0])
    target = torch.tensor([0, 1, 1, 1, 2, 2])
    metrics.update(torch.nn.functional.one_hot(preds, 4).float(), target)
    results = {k: v.detach() for k, v in metrics.compute().items()}
    for name in ("precision", "recall", "f1"):
        present = results[name][:3].mean()
        assert results[f"{name}_macro"] == pytest.approx(float(present)), name
        assert results[f"{name}_macro"] != pytest.approx(float(results[name].mean())), name
    table = per_class_table(results, ["a", "b", "c", "d"])
    assert list(table["no_support"]) == [False, False, False, True]
    assert list(table["support"]) == [1, 3, 2, 0]


# ------------------------------------------------------------------ which checkpoint is tested


def _checkpoint(tmp_path: Path, monitor: str | None, best: str) -> RunCheckpoint:
    callback = RunCheckpoint(dirpath=str(tmp_path), monitor=monitor, filename=best)
    callback.best_model_path = str(tmp_path / f"{best}.ckpt")
    return callback


@pytest.mark.parametrize("order", ["acc_first", "loss_first"])
def test_best_means_best_val_acc_whatever_the_callback_order(tmp_path: Path, order: str) -> None:
    acc = _checkpoint(tmp_path, "val/acc", "best-acc")
    loss = _checkpoint(tmp_path, "val/loss", "best-loss")
    last = _checkpoint(tmp_path, None, "last")
    (tmp_path / "last.ckpt").write_bytes(b"")
    callbacks = [acc, loss, last] if order == "acc_first" else [loss, last, acc]
    trainer = SimpleNamespace(checkpoint_callbacks=callbacks)
    choose = {"train": True}
    assert checkpoint_to_test(OmegaConf.create({**choose, "test_ckpt": "best"}), trainer).endswith(
        "best-acc.ckpt"
    )
    assert checkpoint_to_test(
        OmegaConf.create({**choose, "test_ckpt": "best_loss"}), trainer
    ).endswith("best-loss.ckpt")
    assert checkpoint_to_test(OmegaConf.create({**choose, "test_ckpt": "last"}), trainer).endswith(
        "last.ckpt"
    )
    assert checkpoint_to_test(OmegaConf.create({**choose, "test_ckpt": "none"}), trainer) is None


# ------------------------------------------------------------------ batch size under DDP


def _datamodule(tmp_path: Path, world: int, **kwargs: object) -> SportsDataModule:
    module = SportsDataModule(
        name="x", root=str(tmp_path), reader=read_sports100, batch_size=8, **kwargs
    )
    module.trainer = SimpleNamespace(world_size=world, global_rank=0)
    return module


def test_batch_size_is_per_device_and_global_batch_size_is_divided(tmp_path: Path) -> None:
    assert _datamodule(tmp_path, 4).per_device_batch_size() == 8
    assert _datamodule(tmp_path, 4, global_batch_size=32).per_device_batch_size() == 8
    assert _datamodule(tmp_path, 1, global_batch_size=32).per_device_batch_size() == 32
    with pytest.raises(ConfigError, match=r"global_batch_size=30 does not divide over the 4"):
        _datamodule(tmp_path, 4, global_batch_size=30).per_device_batch_size()


def test_an_evaluation_split_smaller_than_the_world_is_refused(tmp_path: Path) -> None:
    # A rank with an empty, unpadded shard would leave the others waiting in the gathers.
    module = _datamodule(tmp_path, 4)
    module.datasets = {"valid": list(range(3)), "test": list(range(4))}
    with pytest.raises(ConfigError, match=r"valid split has 3 sample\(s\), fewer than the 4"):
        module._eval_sampler("valid")
    shares = [module._eval_sampler("test")]
    assert shares[0] is not None and len(shares[0]) == 1


# ------------------------------------------------------------------ config checks


@pytest.mark.parametrize(
    "override,message",
    [
        ("optimizer.lr=0", r"optimizer\.lr=0: must be a number > 0"),
        ("data.batch_size=0", r"data\.batch_size=0: must be an integer >= 1"),
        ("data.batch_size=-1", r"data\.batch_size=-1"),
        ("data.batch_size=abc", r"data\.batch_size='abc': must be an integer >= 1"),
        ("trainer.max_epochs=0", r"trainer\.max_epochs=0"),
        ("test_ckpt=bestest", r"test_ckpt='bestest': must be one of"),
        ("optimized_metric=acc", r"optimized_metric='acc'"),
    ],
)
def test_values_that_train_nothing_are_refused_before_any_work(
    make_cfg, override: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check_train_config(make_cfg(override))


def test_every_problem_is_listed_at_once(make_cfg) -> None:
    with pytest.raises(ConfigError) as error:
        check_train_config(make_cfg("optimizer.lr=0", "data.batch_size=0"))
    assert "optimizer.lr" in str(error.value) and "data.batch_size" in str(error.value)


def test_a_metric_no_run_logged_lists_the_available_ones() -> None:
    metrics = {"val/acc": 0.5, "val/loss": 1.0}
    assert optimized_value(metrics, "val/acc") == 0.5
    assert optimized_value(metrics, None) is None
    with pytest.raises(ConfigError, match=r"'val/accuracy'.*available: val/acc, val/loss"):
        optimized_value(metrics, "val/accuracy")


def test_errors_wrapped_by_hydra_instantiate_are_found() -> None:
    cfg = OmegaConf.create(
        {"_target_": "sports_rec.models.nets.timm_net.create_timm_net", "name": "resnet10t",
         "num_classes": 3, "freeze": "half"}
    )  # fmt: skip
    with pytest.raises(Exception) as error:
        instantiate(cfg)
    assert not isinstance(error.value, SportsRecError)  # Hydra wrapped it ...
    found = unwrap_user_error(error.value)  # ... and the message is still found
    assert isinstance(found, ConfigError) and "model.net.freeze must be one of" in str(found)


# ------------------------------------------------------------------ safe checkpoints


class _CreatesAFile:
    """Unpickling this object creates a file: what a malicious checkpoint could do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.ckpt"
    torch.save(
        {"state_dict": {}, "hyper_parameters": {"net": {}, "metadata": _CreatesAFile(marker)}},
        bad,
    )
    with pytest.raises(CheckpointError, match=r"asks to run Python code to create \S+"):
        read_checkpoint(bad)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="was not loaded"):
        load_classifier(bad)
    assert not marker.exists()
    # The same pickle loaded unsafely would have run (the test's own control).
    with bad.open("rb") as handle:
        torch.load(handle, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"not a checkpoint at all", b"these are my notes, not weights", pickle.dumps([1, 2])],
)
def test_files_that_are_not_checkpoints_get_a_message(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=str(path)) as error:
        read_checkpoint(path)
    assert "could run code" not in str(error.value)  # garbage is not mistaken for an attack


# ------------------------------------------------------------------ the hub probe


class _RecordingProxy(threading.Thread):
    """A proxy that records the requests it receives and then drops the connection."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        self.requests: list[str] = []

    def run(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                self.requests.append(connection.recv(4096).decode(errors="replace"))


def test_pretrained_weights_probe_goes_through_the_proxy_and_fails_fast(monkeypatch) -> None:
    """Behind a proxy the hub is asked through it (HTTPS_PROXY is honoured, as by every
    huggingface_hub download); when that fails the error is fast and names the fix."""
    import huggingface_hub

    proxy = _RecordingProxy()
    proxy.start()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://huggingface.co")
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "")
    huggingface_hub.close_session()  # the shared client reads the proxy when it is created
    try:
        start = time.monotonic()
        with pytest.raises(PretrainedWeightsUnavailable, match=r"model\.net\.weights=PATH"):
            create_timm_net("resnet18", num_classes=3, pretrained=True)
        assert time.monotonic() - start < 20
    finally:
        huggingface_hub.close_session()
        proxy.server.close()
    assert any(r.startswith("CONNECT huggingface.co:443") for r in proxy.requests), proxy.requests


def test_offline_flag_set_after_import_is_honoured(monkeypatch) -> None:
    from sports_rec.models.nets.timm_net import hub_offline_requested

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_offline_requested()


def test_unknown_timm_model_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"model\.net\.name=resnet5O is not a timm model"):
        create_timm_net("resnet5O", num_classes=3)
    assert timm.is_model("resnet50")


# ------------------------------------------------------------------ reporting of odd inputs


def test_sports100_csv_rows_with_unknown_splits_and_duplicates_are_reported(
    tmp_path: Path,
) -> None:
    from sports_rec.data.synthetic import SyntheticSpec, generate

    root = generate(SyntheticSpec("sports100", 3, 2, 1, size=32), tmp_path / "s100")
    csv = pd.read_csv(root / "sports.csv")
    extra = csv.iloc[[0, 0, 1]].copy()
    extra.loc[extra.index[2], "data set"] = "validaton"
    pd.concat([csv, extra]).to_csv(root / "sports.csv", index=False)
    notes = " | ".join(read_sports100(root).notes)
    assert "1 row(s) with an unknown 'data set' value 'validaton'" in notes
    assert "3 duplicated row(s)" in notes


def test_num_workers_null_follows_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sports_rec.data import datamodule

    monkeypatch.setattr(datamodule.os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert datamodule.auto_num_workers() == 8  # capped
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert datamodule.auto_num_workers() == 4  # 16 CPUs shared by 4 DDP processes
    monkeypatch.setattr(datamodule.os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert datamodule.auto_num_workers() == 0  # one CPU: load in the main process
    assert _datamodule(tmp_path, 1, num_workers=3).num_workers == 3


def test_a_refused_checkpoint_names_the_object_and_the_conversion(tmp_path: Path) -> None:
    """It used to be called "not a readable checkpoint ... truncated?" with PyTorch's advice
    to retry with weights_only=False, which is what runs the embedded code."""
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {}, "payload": _CreatesAFile(marker)}, bad)
    with pytest.raises(CheckpointError) as error:
        read_checkpoint(bad)
    message = str(error.value)
    assert re.search(r"asks to run Python code to create [\w.]*getattr", message)
    assert "it was not loaded" in message
    assert "python -m sports_rec.convert_checkpoint" in message and "--trust-source" in message
    assert "truncated" not in message and "weights_only` set to `False" not in message
    assert not marker.exists()


def test_a_trusted_checkpoint_with_python_objects_converts_and_predicts_the_same(
    tiny_checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    """A checkpoint whose hyper-parameters are OmegaConf/numpy/pathlib objects (as other
    tools write them) is refused; converted with --trust-source it loads and predicts as the
    original. Without the flag nothing is loaded."""
    from omegaconf import OmegaConf

    from sports_rec.convert_checkpoint import main as convert

    original = tiny_checkpoints["rgb"]  # read only: the edited copies are written below
    checkpoint = torch.load(original, weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    hparams["metadata"]["data"] = OmegaConf.create(hparams["metadata"]["data"])
    hparams["metadata"]["image_size"] = np.int64(hparams["metadata"]["image_size"])
    checkpoint["written_from"] = tmp_path / "somewhere"
    foreign = tmp_path / "foreign.ckpt"
    torch.save(checkpoint, foreign)
    with pytest.raises(CheckpointError, match=r"to create (omegaconf|numpy|pathlib)"):
        load_classifier(foreign)

    safe = tmp_path / "safe.ckpt"
    with pytest.raises(SystemExit):
        convert([str(foreign), str(safe)])  # no --trust-source: refused, nothing written
    assert not safe.exists()
    convert([str(foreign), str(safe), "--trust-source"])
    model, reference = load_classifier(safe), load_classifier(original)
    assert isinstance(model.hparams.metadata["data"], dict)
    x = torch.randn(2, *model.input_spec[0]["shape"])
    with torch.no_grad():
        assert torch.equal(model.net(x), reference.net(x))


def test_evaluate_split_loaders_apply_the_same_guard(tmp_path: Path) -> None:
    """``eval_dataloader`` (evaluate split=..., baselines) built its sampler by hand and
    skipped the guard: a split smaller than the DDP world could hang instead of failing."""
    module = _datamodule(tmp_path, 4)
    module.datasets = {"train": list(range(8)), "valid": list(range(3)), "test": list(range(5))}
    with pytest.raises(ConfigError, match=r"valid split has 3 sample\(s\), fewer than the 4"):
        module.eval_dataloader("valid")
    loader = module.eval_dataloader("test")
    assert loader.sampler is not None and len(loader.sampler) == 2  # rank 0 of 4: 0 and 4


def test_checkpoints_naming_moved_classes_still_load(tmp_path: Path) -> None:
    """A checkpoint stores its data config's ``_target_``s; one written before the clip
    dataset moved (sports_rec.data.video_dataset) still builds it."""
    from hydra.utils import get_class

    old = "sports_rec.data.video_dataset.VideoClipDataset"
    path = tmp_path / "old.ckpt"
    data = {"dataset": {"_target_": old, "_partial_": True, "clip_len": 16}}
    torch.save(
        {"state_dict": {}, "hyper_parameters": {"net": {}, "metadata": {"data": data}}}, path
    )
    target = read_checkpoint(path)["hyper_parameters"]["metadata"]["data"]["dataset"]["_target_"]
    assert target != old and get_class(target).__name__ == "VideoClipDataset"


# ------------------------------------------------------------ the misclassified gallery


def test_the_gallery_goes_round_the_true_classes_most_confident_first() -> None:
    from sports_rec.reporting.per_run.artefacts import choose_gallery

    # a test set sorted by class: class 0's errors come first, as the loader yields them
    errors = [{"index": i, "true": 0, "pred": 1, "confidence": 0.1 * i} for i in range(6)]
    errors += [{"index": 10 + i, "true": 2, "pred": 0, "confidence": 0.5} for i in range(3)]
    errors += [{"index": 20, "true": 1, "pred": 2, "confidence": 0.9}]
    chosen = choose_gallery(errors, 5)
    assert [s["true"] for s in chosen] == [0, 2, 1, 0, 2]  # most errors first, then round
    assert [s["index"] for s in chosen if s["true"] == 0] == [5, 4]  # most confident first
    assert [s["index"] for s in choose_gallery(errors, 3, "first")] == [0, 1, 2]
    assert len(choose_gallery(errors, 50)) == len(errors)
    with pytest.raises(ValueError, match="gallery order"):
        choose_gallery(errors, 3, "random")


def test_a_runs_gallery_lists_what_it_shows_across_classes(make_cfg) -> None:
    """misclassified.csv beside misclassified.png: the gallery's samples in its order, every
    true class with an error represented (the test set is sorted by class), as many as the
    gallery holds."""
    from sports_rec.train import train

    cfg = make_cfg("trainer.max_epochs=1", "callbacks.test_artefacts.gallery_size=6")
    train(cfg)
    run = Path(cfg.paths.output_dir)
    shown = pd.read_csv(run / "misclassified.csv")
    assert list(shown.columns) == ["path", "true", "predicted", "probability"]
    assert (shown["true"] != shown["predicted"]).all()
    matrix = pd.read_csv(run / "confusion_matrix.csv", index_col=0)
    wrong_classes = {
        str(true) for true in matrix.index if matrix.loc[true].sum() > matrix.loc[true, true]
    }
    assert set(shown["true"]) == wrong_classes or len(shown) == 6
    assert len(set(shown["true"][: len(wrong_classes)])) == min(len(wrong_classes), 6)
    assert all(Path(p).is_file() for p in shown["path"])
