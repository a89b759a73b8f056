"""training/report.py: the statistics behind results/training/ (reward rise, held-out intervals) on known cases."""

import pytest

from training.report import rise, wilson


def test_wilson_known_values():
    lo, hi = wilson(31, 200)  # the committed "before" row of results/training/heldout_accuracy.md
    assert (round(lo, 3), round(hi, 3)) == (0.111, 0.212)
    lo, hi = wilson(200, 200)
    assert round(lo, 3) == 0.981 and hi == pytest.approx(1.0)


def test_rise_detects_a_clear_rise_and_not_noise():
    up = rise([0.0, 0.1, 0.0, 0.1, 0.0] + [0.9, 1.0, 0.9, 1.0, 1.0], window=5, reps=2000)
    assert up["difference"] == pytest.approx(0.92) and up["ci95_low"] > 0.8
    assert up["p_one_sided"] < 0.01  # 5 vs 5 steps: the smallest attainable one-sided p is 1/252
    flat = rise([0.5, 0.4, 0.6, 0.5, 0.5, 0.6, 0.4, 0.5, 0.5, 0.5], window=5, reps=2000)
    assert flat["difference"] == pytest.approx(0.0, abs=1e-9) and flat["p_one_sided"] > 0.3
    assert flat["ci95_low"] < 0 < flat["ci95_high"]
    down = rise([1.0] * 5 + [0.0] * 5, window=5, reps=2000)
    assert down["difference"] == -1.0 and down["p_one_sided"] > 0.99
