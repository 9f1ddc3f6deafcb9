"""Selection: seeded, blind to ineligible individuals, direction-aware, size-keeping; ring migration."""

from __future__ import annotations

import random

import pytest

from population.individual import Individual
from population.selection import Migration, migrate, ranked, survivors, tournament


def ok(ind_id: str, metric: float, island: int = 0) -> Individual:
    return Individual(ind_id, status="ok", metric=metric, island=island)


def bad(ind_id: str, status: str, island: int = 0) -> Individual:
    # Ineligible ones carry seductive metrics: a crash's partial metric must never count.
    return Individual(ind_id, status=status, metric=-100.0 if status != "invalid" else float("nan"), island=island)


POP = [ok(f"{i:04d}", float(i)) for i in range(10)] + [
    bad("0010", "crash"),
    bad("0011", "pruned"),
    bad("0012", "invalid"),
    bad("0013", "timeout"),
    Individual("0014", status="running"),
    Individual("0015", status="ok", metric=float("inf")),
]


def test_tournament_is_deterministic_by_seed() -> None:
    first = tournament(POP, 20, 3, random.Random(1), "minimize")
    assert first == tournament(POP, 20, 3, random.Random(1), "minimize")
    assert [i.id for i in first] != [i.id for i in tournament(POP, 20, 3, random.Random(2), "minimize")]


def test_tournament_leaves_the_global_random_state_alone() -> None:
    random.seed(123)
    expected = [random.random() for _ in range(3)]
    random.seed(123)
    tournament(POP, 5, 3, random.Random(0), "minimize")
    assert [random.random() for _ in range(3)] == expected


def test_tournament_never_picks_ineligible_individuals() -> None:
    chosen = tournament(POP, 500, 2, random.Random(0), "minimize")
    assert len(chosen) == 500
    assert all(ind.is_parent_eligible for ind in chosen)
    assert {ind.id for ind in chosen} <= {f"{i:04d}" for i in range(10)}
    assert tournament([bad("0001", "crash")], 3, 2, random.Random(0), "minimize") == []


def test_tournament_respects_direction() -> None:
    full = len(POP) * 10  # a tournament this large sees every eligible individual
    assert {i.id for i in tournament(POP, 5, full, random.Random(0), "minimize")} == {"0000"}
    assert {i.id for i in tournament(POP, 5, full, random.Random(0), "maximize")} == {"0009"}
    low = sum(i.metric or 0 for i in tournament(POP, 300, 3, random.Random(0), "minimize"))
    high = sum(i.metric or 0 for i in tournament(POP, 300, 3, random.Random(0), "maximize"))
    assert low < high


def test_ranked_puts_the_best_first_and_the_ineligible_last() -> None:
    order = [i.id for i in ranked(POP, "maximize")]
    assert order[:3] == ["0009", "0008", "0007"]
    assert set(order[10:]) == {"0010", "0011", "0012", "0013", "0014", "0015"}


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_survivors_keep_the_size_and_the_best(direction: str) -> None:
    kept = survivors(POP, 4, 1, direction)
    assert len(kept) == 4
    best = ["0000", "0001", "0002", "0003"] if direction == "minimize" else ["0009", "0008", "0007", "0006"]
    assert [i.id for i in kept] == best
    assert all(i.is_parent_eligible for i in kept)
    assert len(survivors(POP, 50, 2, direction)) == 10  # ineligible ones never fill a place


def test_elitism_keeps_the_best_even_when_filling_with_the_newest() -> None:
    kept = survivors(POP, 4, 2, "minimize", fill="newest")
    assert [i.id for i in kept] == ["0000", "0001", "0009", "0008"]
    assert [i.id for i in survivors(POP, 4, 0, "minimize", fill="newest")] == ["0009", "0008", "0007", "0006"]
    assert [i.id for i in survivors(POP, 2, 5, "minimize", fill="newest")] == ["0000", "0001"]  # elites capped


def test_migration_copies_each_islands_best_to_the_next_replacing_its_worst() -> None:
    islands = {
        0: [ok("0000", 1.0, 0), ok("0001", 5.0, 0), ok("0002", 3.0, 0)],
        1: [ok("0003", 2.0, 1), ok("0004", 9.0, 1), bad("0005", "crash", 1)],
        2: [ok("0006", 0.5, 2), ok("0007", 7.0, 2)],
    }
    after, moves = migrate(islands, 1, "minimize")
    assert moves == [
        Migration("0000", 0, 1, "0005"),  # a crash is the worst
        Migration("0003", 1, 2, "0007"),
        Migration("0006", 2, 0, "0001"),  # the ring closes: the last island sends to the first
    ]
    assert [i.id for i in after[0]] == ["0000", "0006", "0002"]
    assert [i.id for i in after[1]] == ["0003", "0004", "0000"]
    assert [i.id for i in after[2]] == ["0006", "0003"]
    assert after[0][1].island == 0 and after[1][2].island == 1  # the copies live on their new island
    assert islands[1][2].id == "0005"  # the input is left alone
    assert {k: len(v) for k, v in after.items()} == {k: len(v) for k, v in islands.items()}


def test_migration_respects_direction_and_moves_one_hop() -> None:
    islands = {3: [ok("0000", 1.0, 3), ok("0001", 5.0, 3)], 7: [ok("0002", 2.0, 7), ok("0003", 4.0, 7)]}
    _, moves = migrate(islands, 1, "maximize")
    assert moves == [Migration("0001", 3, 7, "0002"), Migration("0003", 7, 3, "0000")]
    _, moves = migrate(islands, 2, "minimize")
    assert {m.individual for m in moves} == {"0000", "0001", "0002", "0003"}  # chosen before anyone moved
    assert migrate({0: islands[3]}, 1, "minimize")[1] == []  # one island: nowhere to go
