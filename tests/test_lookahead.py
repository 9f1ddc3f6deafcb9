"""How many LLM children are proposed ahead of the free slots: none for instant operators, one before anything is
measured, then as many as evaluations will end within one LLM answer's time (plus one), at most the limit."""

from __future__ import annotations

from evo.search.lookahead import Lookahead


def test_instant_operators_propose_nothing_ahead() -> None:
    assert Lookahead(0).depth(now=100.0) == 0


def test_one_ahead_until_latency_and_duration_are_measured() -> None:
    ahead = Lookahead(8)
    ahead.proposing(1, now=0.0)
    ahead.proposed(1, now=2.0)
    assert ahead.depth(now=2.0) == 1  # no evaluation has ended yet
    ahead.evaluating(2, now=2.0)
    ahead.evaluated(2, now=10.0)
    assert (ahead.latency, ahead.duration) == (2.0, 8.0)


def test_the_depth_follows_the_evaluations_due_within_one_answer() -> None:
    ahead = Lookahead(8, latency=2.0, duration=8.0)
    for tag, started in enumerate([0.0, 0.5, 1.0, 3.0, 6.0, 6.0, 6.0]):
        ahead.evaluating(tag, now=started)
    # at 7 s, evaluations that started by 7 + 2 - 8 = 1 s end within the next answer's time: three of them
    assert ahead.depth(now=7.0) == 4
    # a burst: the three that started together at 6 s all end within 2 s of 12.5 s
    assert ahead.depth(now=12.5) == 1 + 7
    assert Lookahead(5, latency=2.0, duration=8.0, _evaluating=dict.fromkeys(range(20), 0.0)).depth(now=9.0) == 5


def test_measurements_are_moving_averages() -> None:
    ahead = Lookahead(8)
    for tag, (begin, end) in enumerate([(0.0, 2.0), (10.0, 14.0)]):
        ahead.proposing(tag, now=begin)
        ahead.proposed(tag, now=end)
    assert ahead.latency == 2.0 * 0.8 + 4.0 * 0.2
    ahead.proposed(99, now=50.0)  # an unknown tag changes nothing
    assert ahead.latency == 2.0 * 0.8 + 4.0 * 0.2
