"""Seeded, stratified splits: determinism, proportions, and no video leakage."""

from __future__ import annotations

import pandas as pd
import pytest

from sports_rec.data.formats.workout import read_workout
from sports_rec.data.splits import assign_splits, carve_validation
from sports_rec.data.synthetic import SyntheticSpec, generate
from sports_rec.errors import ConfigError

COUNTS = (100, 50, 20)


def unsplit_frame(counts: tuple[int, ...] = COUNTS) -> pd.DataFrame:
    labels = [label for label, n in enumerate(counts) for _ in range(n)]
    return pd.DataFrame(
        {"path": [f"img_{i}.jpg" for i in range(len(labels))], "label": labels, "split": None}
    )


def split_sizes(frame: pd.DataFrame) -> dict[tuple[int, str], int]:
    return frame.groupby(["label", "split"]).size().to_dict()


@pytest.fixture(scope="module")
def workout_frame(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Synthetic workout index: 4 classes with 4, 6, 8 and 4 videos of 6 frames each."""
    root = tmp_path_factory.mktemp("splits") / "workout"
    generate(SyntheticSpec("workout", classes=4, per_class=36, size=32, seed=0), root)
    frame = read_workout(root).frame
    assert frame.groupby("label")["group"].nunique().tolist() == [4, 6, 8, 4]
    return frame


# --------------------------------------------------------------------------- random
def test_random_split_is_deterministic_per_seed() -> None:
    frame = unsplit_frame()
    first = assign_splits(frame, seed=3, mode="random")
    again = assign_splits(frame, seed=3, mode="random")
    other = assign_splits(frame, seed=4, mode="random")
    assert first["split"].tolist() == again["split"].tolist()
    assert first["split"].tolist() != other["split"].tolist()
    assert frame["split"].isna().all(), "the input frame must not be modified"


@pytest.mark.parametrize("seed", [0, 1])
def test_random_split_is_stratified_80_10_10(seed: int) -> None:
    result = assign_splits(unsplit_frame(), fractions=(0.8, 0.1, 0.1), seed=seed, mode="random")
    assert result["split"].notna().all()
    sizes = split_sizes(result)
    for label, n in enumerate(COUNTS):
        for split, fraction in (("train", 0.8), ("valid", 0.1), ("test", 0.1)):
            assert abs(sizes[(label, split)] - fraction * n) <= 1, (label, split, sizes)


def test_small_classes_get_one_sample_in_each_split() -> None:
    result = assign_splits(unsplit_frame((3, 4, 7)), mode="random", seed=0)
    for label in range(3):
        assert set(result.loc[result["label"] == label, "split"]) == {"train", "valid", "test"}


def test_rows_with_a_split_are_untouched() -> None:
    frame = unsplit_frame()
    preset = frame.index % 7 == 0
    frame.loc[preset, "split"] = "test"
    result = assign_splits(frame, seed=0, mode="random")
    assert (result.loc[preset, "split"] == "test").all()
    assert result["split"].notna().all()
    # The remaining rows are split 80/10/10 on their own.
    rest = result.loc[~preset]
    assert abs((rest["split"] == "train").mean() - 0.8) < 0.03


def test_fully_split_frame_is_returned_unchanged() -> None:
    frame = unsplit_frame().assign(split="valid")
    assert assign_splits(frame, mode="random")["split"].eq("valid").all()


# --------------------------------------------------------------------------- grouped
def test_grouped_split_has_no_leakage(workout_frame: pd.DataFrame) -> None:
    """No video id appears in two splits (the random split, by contrast, does leak)."""
    grouped = assign_splits(workout_frame, seed=0, mode="grouped")
    assert grouped["split"].notna().all()
    assert (grouped.groupby("group")["split"].nunique() == 1).all()

    leaky = assign_splits(workout_frame, seed=0, mode="random")
    assert (leaky.groupby("group")["split"].nunique() > 1).any(), "leak check is not sensitive"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_split_covers_every_class(workout_frame: pd.DataFrame, seed: int) -> None:
    """Each class has >= 3 videos here, so each class is present in every split."""
    grouped = assign_splits(workout_frame, seed=seed, mode="grouped")
    per_class = grouped.groupby("label")["split"].apply(set)
    assert all(splits == {"train", "valid", "test"} for splits in per_class)
    # Train gets the bulk of every class.
    share = grouped.groupby("label")["split"].apply(lambda s: (s == "train").mean())
    assert (share >= 0.5).all()


def test_grouped_split_is_deterministic(workout_frame: pd.DataFrame) -> None:
    first = assign_splits(workout_frame, seed=5, mode="grouped")["split"].tolist()
    again = assign_splits(workout_frame, seed=5, mode="grouped")["split"].tolist()
    others = [
        assign_splits(workout_frame, seed=s, mode="grouped")["split"].tolist() for s in (6, 7)
    ]
    assert first == again
    assert any(other != first for other in others)


def test_grouped_split_without_group_column_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"data\.split=random"):
        assign_splits(unsplit_frame(), mode="grouped")


# --------------------------------------------------------------------------- carve
def train_test_frame() -> pd.DataFrame:
    frame = unsplit_frame()
    frame["split"] = ["test" if i % 10 == 0 else "train" for i in range(len(frame))]
    return frame


def test_carve_validation_moves_a_stratified_fraction() -> None:
    frame = train_test_frame()
    carved = carve_validation(frame, fraction=0.2, seed=0)

    test_rows = frame["split"] == "test"
    assert (carved.loc[test_rows, "split"] == "test").all()
    assert set(carved.loc[~test_rows, "split"]) == {"train", "valid"}
    for label in range(len(COUNTS)):
        n_train = int(((frame["label"] == label) & ~test_rows).sum())
        n_valid = int(((carved["label"] == label) & (carved["split"] == "valid")).sum())
        assert abs(n_valid - 0.2 * n_train) <= 1, (label, n_valid, n_train)


def test_carve_validation_is_deterministic() -> None:
    frame = train_test_frame()
    first = carve_validation(frame, 0.1, seed=1)["split"].tolist()
    assert first == carve_validation(frame, 0.1, seed=1)["split"].tolist()
    assert first != carve_validation(frame, 0.1, seed=2)["split"].tolist()


def test_carve_validation_keeps_groups_together(workout_frame: pd.DataFrame) -> None:
    frame = workout_frame.assign(split="train")
    carved = carve_validation(frame, fraction=0.2, seed=0, group_column="group")
    assert set(carved["split"]) == {"train", "valid"}
    assert (carved.groupby("group")["split"].nunique() == 1).all()
    assert set(carved.loc[carved["split"] == "valid", "label"]) == {0, 1, 2, 3}


@pytest.mark.parametrize(
    "fractions",
    [(0.8, 0.1), (0.7, 0.1, 0.1), (0.9, 0.2, -0.1), (1.0, 0.5, 0.5)],
)
def test_invalid_fractions_raise(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match=r"data\.split_fractions"):
        assign_splits(unsplit_frame(), fractions=fractions, mode="random")


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_invalid_validation_fraction_raises(fraction: float) -> None:
    with pytest.raises(ConfigError, match=r"data\.val_fraction must be in \(0, 1\)"):
        carve_validation(train_test_frame(), fraction=fraction)


def test_unknown_split_mode_raises() -> None:
    with pytest.raises(ConfigError, match=r"data\.split must be random or grouped"):
        assign_splits(unsplit_frame(), mode="stratified")


def test_rebalance_cuts_large_classes_to_the_target_before_splitting() -> None:
    from sports_rec.data.splits import rebalance_classes

    frame = pd.DataFrame({"path": [f"{i}.jpg" for i in range(60)], "split": None})
    frame["label"] = [0] * 30 + [1] * 20 + [2] * 10
    kept, before, after = rebalance_classes(frame, "median", seed=3)
    assert before == [30, 20, 10] and after == [20, 20, 10]
    assert kept["label"].value_counts().sort_index().tolist() == after
    assert set(kept.index) <= set(frame.index)  # a subset, rows untouched
    again, _, _ = rebalance_classes(frame, "median", seed=3)
    assert again.index.equals(kept.index)  # seeded
    assert not rebalance_classes(frame, "median", seed=4)[0].index.equals(kept.index)
    assert rebalance_classes(frame, "min", seed=3)[2] == [10, 10, 10]
    assert rebalance_classes(frame, 25, seed=3)[2] == [25, 20, 10]
    with pytest.raises(ConfigError, match=r"data\.rebalance\.target"):
        rebalance_classes(frame, "mean")
