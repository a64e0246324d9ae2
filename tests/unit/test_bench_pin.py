"""The core assignment behind ``python -m bench --only scaling --pin``: which core each tsunagi process and
the load generator get. No benchmark runs here."""
from __future__ import annotations

import os
import threading

import pytest
from bench.scenarios.scaling import _client_on, describe_plan, pin_plan


def test_two_cores_one_server_gets_core_0_and_the_client_core_1() -> None:
    assert pin_plan(1, [0, 1]) == ([0], [1])


def test_two_cores_more_servers_share_core_0_and_the_client_keeps_its_own() -> None:
    assert pin_plan(2, [0, 1]) == ([0, 0], [1])
    assert pin_plan(4, [1, 0]) == ([0, 0, 0, 0], [1])


def test_many_cores_one_core_per_server_round_robin() -> None:
    assert pin_plan(2, range(8)) == ([0, 1], [7])
    assert pin_plan(4, range(8)) == ([0, 1, 2, 3], [7])
    assert pin_plan(9, range(8)) == ([0, 1, 2, 3, 4, 5, 6, 0, 1], [7])


def test_the_client_may_get_several_cores() -> None:
    assert pin_plan(2, range(8), client_cores=2) == ([0, 1], [6, 7])


def test_cores_are_taken_from_the_allowed_set_not_from_zero() -> None:
    # a process already limited to cores 4-7 (a cgroup, an outer taskset) pins inside them
    assert pin_plan(3, [7, 5, 4, 6]) == ([4, 5, 6], [7])


def test_one_core_everything_shares_it() -> None:
    assert pin_plan(2, [3]) == ([3, 3], [3])


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        pin_plan(0, [0, 1])
    with pytest.raises(ValueError):
        pin_plan(1, [])
    with pytest.raises(ValueError):
        pin_plan(1, [0, 1], client_cores=0)


def test_description_shows_cores_per_server() -> None:
    assert describe_plan([0, 0], [1]) == "servers 0,0 · client 1 (0.5 core/server)"
    assert describe_plan([0, 1, 2], [3]) == "servers 0,1,2 · client 3 (1 core/server)"


def test_the_client_is_pinned_while_a_level_runs_and_released_after() -> None:
    before = os.sched_getaffinity(0)
    core = min(before)
    seen: list[set[int]] = []
    with _client_on([core]):
        t = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
        t.start()
        t.join()
        assert os.sched_getaffinity(0) == {core}
    assert seen == [{core}]                      # threads started meanwhile (the client's) inherit it
    assert os.sched_getaffinity(0) == before
    with _client_on(None):                       # without --pin nothing changes
        assert os.sched_getaffinity(0) == before
