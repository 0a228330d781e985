"""ResamplingSampler: each strategy's class balance, seeding per epoch and DDP sharding."""

from __future__ import annotations

from collections import Counter

import pytest

from sports_rec.data.samplers import STRATEGIES, ResamplingSampler, UnpaddedDistributedSampler

COUNTS = (100, 30, 10)
LABELS = [label for label, n in enumerate(COUNTS) for _ in range(n)]


def sampler(strategy: str, labels: list[int] = LABELS, **kwargs: object) -> ResamplingSampler:
    """A single-process sampler (explicit world size, so torch.distributed is not consulted)."""
    options = {"num_replicas": 1, "rank": 0, **kwargs}
    return ResamplingSampler(labels, strategy=strategy, **options)


def indices(s: ResamplingSampler) -> list[int]:
    """The dataset indices of an epoch's ``(index, draw seed)`` pairs."""
    return [index for index, _ in s]


def class_counts(indices: list[int], labels: list[int] = LABELS) -> list[int]:
    counts = Counter(labels[i] for i in indices)
    return [counts.get(label, 0) for label in range(max(labels) + 1)]


def test_shuffle_is_a_permutation() -> None:
    s = sampler("shuffle", seed=0)
    order = indices(s)
    assert sorted(order) == list(range(len(LABELS)))
    assert order != sorted(order)
    assert len(s) == len(LABELS)


def test_weighted_draws_classes_about_equally() -> None:
    s = sampler("weighted", seed=0, num_samples=6000)
    order = indices(s)
    assert len(order) == len(s) == 6000
    for share in (n / 6000 for n in class_counts(order)):
        assert 0.25 <= share <= 0.42, class_counts(order)


def test_weighted_defaults_to_dataset_size() -> None:
    assert len(indices(sampler("weighted", seed=0))) == len(LABELS)


def test_downsample_caps_large_classes_at_the_median() -> None:
    order = indices(sampler("downsample", seed=0))
    assert class_counts(order) == [30, 30, 10]
    assert len(set(order)) == len(order), "downsampling draws without replacement"
    # Classes at or below the median are kept whole.
    assert {i for i in order if LABELS[i] == 2} == {i for i, y in enumerate(LABELS) if y == 2}
    assert {i for i in order if LABELS[i] == 1} == {i for i, y in enumerate(LABELS) if y == 1}


def test_downsample_draws_a_fresh_subset_each_epoch() -> None:
    s = sampler("downsample", seed=0)
    first = {i for i in indices(s) if LABELS[i] == 0}
    s.set_epoch(1)
    second = {i for i in indices(s) if LABELS[i] == 0}
    assert len(first) == len(second) == 30
    assert first != second


@pytest.mark.parametrize(("target", "per_class"), [("median", 30), ("min", 10), ("max", 100),
                                                    (50, 50), ("20", 20)])  # fmt: skip
def test_balanced_gives_equal_counts(target: str | int, per_class: int) -> None:
    s = sampler("balanced", seed=0, target=target)
    order = indices(s)
    assert class_counts(order) == [per_class] * 3
    assert len(s) == 3 * per_class


def test_balanced_oversampling_keeps_every_minority_sample() -> None:
    order = indices(sampler("balanced", seed=0, target="max"))
    minority = {i for i, y in enumerate(LABELS) if y == 2}
    assert minority <= set(order)


def test_balanced_unknown_target_raises() -> None:
    with pytest.raises(ValueError, match="target"):
        sampler("balanced", target="mean")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_order_depends_on_seed_and_epoch(strategy: str) -> None:
    a, b = sampler(strategy, seed=7), sampler(strategy, seed=7)
    a.set_epoch(3)
    b.set_epoch(3)
    epoch3 = indices(a)
    assert epoch3 == indices(b)
    assert epoch3 == indices(a), "iterating twice in one epoch repeats the order"
    a.set_epoch(4)
    assert indices(a) != epoch3
    other_seed = sampler(strategy, seed=8)
    other_seed.set_epoch(3)
    assert indices(other_seed) != epoch3


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("labels", [LABELS, [*LABELS, 2]], ids=["even", "odd"])
def test_ddp_ranks_are_disjoint_and_cover_the_epoch(strategy: str, labels: list[int]) -> None:
    """Rank r takes positions r, r+2, ... of the same (padded) epoch list."""
    ranks = [sampler(strategy, labels, seed=1, num_replicas=2, rank=r) for r in (0, 1)]
    for s in ranks:
        s.set_epoch(2)
    shards = [indices(s) for s in ranks]
    single = sampler(strategy, labels, seed=1)
    single.set_epoch(2)
    epoch = indices(single)

    assert len(shards[0]) == len(shards[1]) == len(ranks[0]) == len(ranks[1])
    padded = epoch + epoch[: 2 * len(ranks[0]) - len(epoch)]
    assert len(padded) == 2 * len(ranks[0]) >= len(epoch)
    interleaved = [index for pair in zip(*shards, strict=True) for index in pair]
    assert interleaved == padded
    # Positions are disjoint by construction; for a permutation the indices are too.
    if strategy == "shuffle" and len(labels) % 2 == 0:
        assert not set(shards[0]) & set(shards[1])
        assert set(shards[0]) | set(shards[1]) == set(range(len(labels)))


@pytest.mark.parametrize("num_replicas", [3, 8])
def test_every_rank_gets_len_items_even_for_tiny_epochs(num_replicas: int) -> None:
    """Unequal shard lengths would make DDP ranks disagree on the number of batches."""
    labels = [0, 1, 0]
    shards = [
        indices(sampler("shuffle", labels, seed=0, num_replicas=num_replicas, rank=r))
        for r in range(num_replicas)
    ]
    assert [len(shard) for shard in shards] == [1] * num_replicas
    assert {i for shard in shards for i in shard} == {0, 1, 2}


def test_unknown_strategy_raises() -> None:
    with pytest.raises(ValueError, match="strategy"):
        sampler("oversample")


def test_every_draw_carries_its_own_seed_fixed_by_seed_and_epoch() -> None:
    """Augmentation is seeded per draw: the same (seed, epoch) gives the same seeds, a
    repeated draw of one sample (oversampling) still gets its own."""
    a, b = sampler("balanced", seed=3, target="max"), sampler("balanced", seed=3, target="max")
    a.set_epoch(5)
    b.set_epoch(5)
    draws = list(a)
    assert draws == list(b)
    assert len({seed for _, seed in draws}) == len(draws)
    assert len({index for index, _ in draws}) < len(draws)  # the minority was oversampled
    a.set_epoch(6)
    assert {seed for _, seed in a}.isdisjoint({seed for _, seed in draws})


@pytest.mark.parametrize("size,world", [(19, 2), (20, 2), (7, 3), (2, 4)])
def test_unpadded_eval_sampler_counts_every_sample_exactly_once(size: int, world: int) -> None:
    """Evaluation shards differ in length instead of repeating samples to even them out."""
    shards = [list(UnpaddedDistributedSampler(size, world, rank)) for rank in range(world)]
    assert sorted(i for shard in shards for i in shard) == list(range(size))
    assert [len(UnpaddedDistributedSampler(size, world, r)) for r in range(world)] == [
        len(shard) for shard in shards
    ]
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
