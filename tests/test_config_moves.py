"""Keys that moved keep working for old checkpoints and are named for old command lines:
the image options left the (modality-neutral) DataModule for the image dataset's node."""

from __future__ import annotations

from pathlib import Path

import torch

from sports_rec.checkpoint import load_classifier, upgraded_data_config
from sports_rec.data.io.image_io import decoding_cap
from sports_rec.utils.cli import unparsable_override
from tests.conftest import run_cli

OLD_IMAGE_DATA = {
    "name": "synthetic",
    "image_size": 32,
    "grayscale": True,
    "crop_pct": 1.0,
    "max_side": None,
    "cache": False,
    "cache_dir": "/tmp/cache",
    "dataset": {
        "_target_": "sports_rec.data.datasets.ImageDataset",
        "_partial_": True,
        "grayscale": True,
        "image_size": 32,
        "max_side": None,
        "cache": False,
        "cache_dir": "/tmp/cache",
    },
}


def test_old_image_options_move_into_the_dataset_node() -> None:
    data = upgraded_data_config(OLD_IMAGE_DATA)
    assert not {"grayscale", "crop_pct", "max_side", "cache", "cache_dir"} & set(data)
    assert data["dataset"]["grayscale"] is True and data["dataset"]["crop_pct"] == 1.0
    # a checkpoint from before the dataset node gets the image dataset with the old values
    bare = {k: v for k, v in OLD_IMAGE_DATA.items() if k != "dataset"}
    node = upgraded_data_config(bare)["dataset"]
    assert node["_target_"].endswith("ImageDataset") and node["image_size"] == 32
    assert node["grayscale"] is True and node["cache_dir"] == "/tmp/cache"
    # a video checkpoint never read them: they are dropped, its dataset is untouched
    video = {
        "grayscale": False,
        "crop_pct": 1.0,
        "max_side": None,
        "dataset": {"_target_": "sports_rec.data.datasets.VideoClipDataset", "clip_len": 16},
    }
    assert upgraded_data_config(video) == {
        "dataset": {"_target_": "sports_rec.data.datasets.VideoClipDataset", "clip_len": 16}
    }


def test_a_checkpoint_of_the_old_shape_loads_and_evaluates(
    tiny_checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    """A grayscale checkpoint rewritten to the old shape (options on the DataModule) is read
    in the new one and evaluates with the real command."""
    checkpoint = torch.load(tiny_checkpoints["gray"], map_location="cpu", weights_only=False)
    data = checkpoint["hyper_parameters"]["metadata"]["data"]
    dataset = data["dataset"]
    for key in ("grayscale", "crop_pct", "max_side", "cache", "cache_dir"):
        data[key] = dataset.pop(key)
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    model = load_classifier(old)
    assert model.hparams.metadata["data"]["dataset"]["grayscale"] is True
    run_cli(
        "sports_rec.evaluate",
        f"ckpt_path={old}",
        f"hydra.run.dir={tmp_path / 'eval'}",
        "trainer.accelerator=cpu",
        cwd=tmp_path,
    )
    assert (tmp_path / "eval" / "test_metrics.json").is_file()


def test_an_old_override_names_its_new_key() -> None:
    message = unparsable_override(["model=lenet", "data.grayscale=true"])
    assert message is not None and "data.dataset.grayscale=true" in message
    assert unparsable_override(["data.dataset.grayscale=true"]) is None
    message = unparsable_override(["data.keypoints=estimate"])
    assert message is not None and "data.dataset.keypoints=estimate" in message


def test_a_small_eval_crop_raises_the_decoding_cap() -> None:
    assert decoding_cap(224) == 448
    assert decoding_cap(224, crop_pct=0.875) == 448  # 256 px before the crop: room enough
    assert decoding_cap(224, crop_pct=0.25) == 896  # 896 px before the crop
    assert decoding_cap(224, max_side=300, crop_pct=0.25) == 300  # an explicit cap wins
