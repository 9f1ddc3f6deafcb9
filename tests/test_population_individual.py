"""Individual: the record normalises what JSON hands back, and only ok runs with a finite metric may breed."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError, replace

import pytest

from evo.evaluation.result import EvalResult, Status
from population.individual import STATUSES, Individual, format_id, rank_key


def test_ids_are_zero_padded_counters() -> None:
    assert format_id(7) == "0007"
    assert format_id(12345) == "12345"


def test_record_is_frozen_and_normalises_lists_and_enums() -> None:
    ind = Individual("0001", parents=["0000"], status=Status.OK, metric=1, curve=[[0, 2.5]], seeds=[3])
    assert ind.parents == ("0000",)
    assert ind.status == "ok" and type(ind.status) is str
    assert ind.curve == ((0.0, 2.5),)
    assert ind.seeds == (3,)
    assert ind.metric == 1.0 and isinstance(ind.metric, float)
    with pytest.raises(FrozenInstanceError):
        ind.metric = 2.0  # type: ignore[misc]
    assert hash(ind) == hash(replace(ind))  # hashable despite the summary dict


def test_unknown_status_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown status 'done'"):
        Individual("0001", status="done")


@pytest.mark.parametrize("status", STATUSES)
def test_only_ok_with_a_finite_metric_is_parent_eligible(status: str) -> None:
    assert Individual("0001", status=status, metric=1.0).is_parent_eligible == (status == "ok")
    for metric in (None, math.nan, math.inf, -math.inf):
        assert not Individual("0001", status=status, metric=metric).is_parent_eligible


def test_better_than_respects_direction_and_eligibility() -> None:
    low = Individual("0001", status="ok", metric=1.0)
    high = Individual("0002", status="ok", metric=2.0)
    crash = Individual("0003", status="crash", metric=0.1, reason="boom")
    assert low.better_than(high, "minimize") and not high.better_than(low, "minimize")
    assert high.better_than(low, "maximize") and not low.better_than(high, "maximize")
    assert not low.better_than(low, "minimize")  # strictly
    assert low.better_than(crash, "minimize") and high.better_than(crash, "maximize")
    assert not crash.better_than(low, "minimize") and not crash.better_than(crash, "minimize")
    with pytest.raises(ValueError, match="direction"):
        low.better_than(high, "lower")


def test_rank_key_orders_eligible_best_first_then_older() -> None:
    a, b, c = (Individual(i, status="ok", metric=1.0) for i in ("0002", "0001", "0010"))
    bad = Individual("0000", status="pruned")
    order = sorted([bad, c, a, b], key=lambda ind: rank_key(ind, "minimize"))
    assert [ind.id for ind in order] == ["0001", "0002", "0010", "0000"]


def test_with_result_takes_the_evaluation_and_adds_its_costs() -> None:
    result = EvalResult(
        status=Status.CRASH, metric=None, reason="exit 1", summary={"x": 1.0}, curve=((1.0, 2.0),), exit_code=1,
        wall_seconds=3.0, peak_rss_mb=10.0, seed=5, budget=2.0, clock="wall", log_path="log", log_tail="",
    )  # fmt: skip
    ind = Individual("0001", status="running", seeds=(4,), budget_seconds=1.0, wall_seconds=1.0)
    done = ind.with_result(result, finished=9.0)
    assert (done.status, done.metric, done.reason, done.seeds) == ("crash", None, "exit 1", (4, 5))
    assert (done.budget_seconds, done.wall_seconds, done.finished) == (3.0, 4.0, 9.0)
    assert done.summary == {"x": 1.0} and done.curve == ((1.0, 2.0),)
