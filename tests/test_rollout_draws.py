"""The deterministic draws of gradual rollouts and feature flags (``iota_scripts/tools/rollout.py``).

Known keys, known salt: the counts are exact, so they can be asserted
exactly (nothing random, nothing to flake).
"""

from __future__ import annotations

from addon_tools import load

rollout = load("rollout")


def _keys(n):
    return [f"res.partner:{i}" for i in range(1, n + 1)]


def test_ten_percent_of_known_keys_is_an_exact_count_near_ten_percent():
    chosen = [k for k in _keys(200) if rollout.chosen(7, k, 10)]
    assert len(chosen) == 21  # the draw for these 200 keys and salt 7, every time
    assert sum(rollout.chosen(7, k, 10) for k in _keys(10_000)) == 980  # 9.8 %


def test_a_draw_is_sticky_and_the_salt_reshuffles():
    first = [rollout.chosen(7, k, 10) for k in _keys(500)]
    assert first == [rollout.chosen(7, k, 10) for k in _keys(500)]
    other = [rollout.chosen(8, k, 10) for k in _keys(500)]
    assert other != first  # another candidate (or flag) draws other keys
    # growing the share keeps everyone who was in: 10 % is inside 20 %
    assert all(rollout.chosen(7, k, 20) for k, was in zip(_keys(500), first, strict=True) if was)


def test_bounds():
    assert not any(rollout.chosen(7, k, 0) for k in _keys(1000))
    assert all(rollout.chosen(7, k, 100) for k in _keys(1000))
    assert all(0 <= rollout.bucket(s, k) < rollout.BUCKETS for s in (1, 2) for k in _keys(1000))
    # two decimals of resolution: 0.01 % is exactly the bucket 0
    assert rollout.chosen(3, "k", 0.01) == (rollout.bucket(3, "k") == 0)
