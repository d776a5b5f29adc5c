"""The quick benchmark run's seed step: `make bench QUICK=1` stopped at bench_seed when the
product default's recipe encoder became "lstm" (it reads RecipeLines), because the step
timing our heads on cached features built preset("default") as it stands. Here that
step runs as the quick run calls it, with fewer timed steps."""

from __future__ import annotations

from benchmarks.bench_seed import BATCH, our_head_step


def test_the_quick_seed_step_times_our_heads_on_cached_features():
    head = our_head_step(2)  # the quick run times 20, after 10 untimed
    assert head["batch"] == BATCH and head["count"] == 2
    assert head["trainable_parameters_m"] > 0
    assert 0 < head["p10_ms"] <= head["p50_ms"] <= head["p90_ms"]
