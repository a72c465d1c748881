"""The point loss's plateau criterion on synthetic training curves of known shape."""

from __future__ import annotations

import numpy as np
import pytest

from morse.evaluation.convergence import point_loss_plateau

T = 1000
ITERATIONS = np.arange(10, T + 1, 10)


def test_a_straight_descent_is_not_converged_and_its_change_is_exact():
    loss = 1.0 - 0.001 * ITERATIONS  # falls 0.2 over the last fifth, around a mean of 0.095
    result = point_loss_plateau(ITERATIONS, loss, T)
    assert (result["window_start"], result["window_end"], result["n_rows"]) == (800, 1000, 20)
    assert result["start_loss"] == pytest.approx(0.2) and result["end_loss"] == pytest.approx(0.0)
    assert result["relative_change"] == pytest.approx(0.2 / loss[ITERATIONS > 800].mean())
    assert result["converged"] is False


def test_an_exponential_decay_converges_only_once_it_has_flattened():
    fast = 0.1 + 2.0 * np.exp(-ITERATIONS / 50)  # flat long before iteration 800
    slow = 0.1 + 2.0 * np.exp(-ITERATIONS / 600)  # still falling at the end
    assert point_loss_plateau(ITERATIONS, fast, T)["converged"] is True
    slow_result = point_loss_plateau(ITERATIONS, slow, T)
    assert slow_result["converged"] is False and slow_result["relative_change"] > 0.2


def test_noise_around_a_plateau_is_smoothed_and_rising_counts_as_flat():
    often = np.arange(2, T + 1, 2)
    noisy = 0.3 + 0.015 * np.random.default_rng(0).standard_normal(often.size)
    result = point_loss_plateau(often, noisy, T)
    assert result["converged"] is True and abs(result["relative_change"]) < 3 * result["relative_change_se"]
    assert result["relative_change_se"] == pytest.approx(
        0.015 / np.sqrt(((often[often > 800] - 901) ** 2).sum()) * 200 / 0.3, rel=0.25)
    rising = 0.2 + 0.0005 * ITERATIONS
    result = point_loss_plateau(ITERATIONS, rising, T)
    assert result["relative_change"] < 0 and result["converged"] is True
    # the threshold decides: a 10 % fall passes at 20 % and fails at 5 %
    ten_percent = np.where(ITERATIONS > 800, 1.0 - 0.1 * (ITERATIONS - 800) / 200 + 0.05, 2.0)
    change = point_loss_plateau(ITERATIONS, ten_percent, T)["relative_change"]
    assert change == pytest.approx(0.1 / 1.0, rel=0.06)
    assert point_loss_plateau(ITERATIONS, ten_percent, T, threshold=0.2)["converged"] is True
    assert point_loss_plateau(ITERATIONS, ten_percent, T, threshold=0.05)["converged"] is False


def test_too_few_rows_or_no_finite_loss_is_undetermined():
    result = point_loss_plateau([900, 1000], [1.0, 0.5], T)
    assert result["converged"] is None and result["relative_change"] is None
    assert point_loss_plateau(ITERATIONS, np.full(ITERATIONS.size, np.nan), T)["converged"] is None
    with pytest.raises(ValueError, match="window"):
        point_loss_plateau(ITERATIONS, ITERATIONS, T, window=0.0)


def test_a_fall_within_its_noise_is_a_plateau_and_one_beyond_it_is_not():
    """The criterion is one-sided at 95 %: fall - 1.645 SE against the 5 % threshold. Rows
    alternate +-a around a line of mean 1 falling by f over the window, so the SE is known."""
    t = np.arange(810, T + 1, 10)  # 20 rows in the last fifth
    a = 0.1
    residual = a * np.where(np.arange(t.size) % 2 == 0, 1.0, -1.0)
    residual -= residual.mean()
    se = np.sqrt((residual**2).sum() / (t.size - 2) / ((t - t.mean()) ** 2).sum()) * 200
    for fall in (0.05 + 1.0 * se, 0.05 + 2.5 * se):
        loss = 1.0 - fall * (t - 900) / 200 + residual
        result = point_loss_plateau(t, loss, T)
        assert result["relative_change_se"] == pytest.approx(se, rel=0.15)  # residual ~ fit residual
        assert result["relative_change"] > 0.05  # the bare estimate is above the threshold either way
        assert result["converged"] is bool(fall < 0.05 + 1.645 * se)
    assert point_loss_plateau(t[-7:], (1.0 - 0.5 * t / T)[-7:], T)["converged"] is None  # 7 rows


# --- the same statistic for a metric that should rise (the validation Dice) --------------------


def test_a_rising_validation_dice_is_not_converged_and_its_rise_is_exact():
    from morse.evaluation.convergence import VALIDATION_PLATEAU_THRESHOLD, validation_plateau

    dice = 0.5 + 0.0003 * ITERATIONS  # rises 0.06 over the last fifth, around a mean of 0.7715
    result = validation_plateau(ITERATIONS, dice, T)
    assert (result["window_start"], result["window_end"], result["n_rows"]) == (800, 1000, 20)
    assert result["start_value"] == pytest.approx(0.74) and result["end_value"] == pytest.approx(0.80)
    assert result["relative_change"] == pytest.approx(0.06 / dice[ITERATIONS > 800].mean())
    assert result["relative_change_se"] == pytest.approx(0.0, abs=1e-9)
    assert result["threshold"] == VALIDATION_PLATEAU_THRESHOLD == 0.01
    assert result["converged"] is False


def test_a_flat_or_falling_validation_dice_is_on_its_plateau():
    from morse.evaluation.convergence import validation_plateau

    flat = 0.85 + 0.004 * np.where(np.arange(ITERATIONS.size) % 2 == 0, 1.0, -1.0)  # +-0.004 around 0.85
    result = validation_plateau(ITERATIONS, flat, T)
    assert result["converged"] is True and abs(result["relative_change"]) < 0.002
    falling = 0.9 - 0.0001 * ITERATIONS  # over-fitting: not rising, so more training will not help
    result = validation_plateau(ITERATIONS, falling, T)
    assert result["relative_change"] < 0 and result["converged"] is True
    # a rise of 0.5 % of the mean passes the 1 % threshold, one of 2 % does not
    for rise, converged in ((0.005, True), (0.02, False)):
        curve = 0.8 * (1.0 + rise * (ITERATIONS - 900) / 200)
        assert validation_plateau(ITERATIONS, curve, T)["converged"] is converged


def test_one_statistic_serves_both_directions():
    from morse.evaluation.convergence import plateau

    loss = 1.0 - 0.001 * ITERATIONS
    falling, rising = plateau(ITERATIONS, loss, T, "falling"), plateau(ITERATIONS, -loss + 2.0, T, "rising")
    assert falling["relative_change"] > 0 and rising["relative_change"] > 0
    as_loss = point_loss_plateau(ITERATIONS, loss, T)  # the point loss keeps its key names
    assert as_loss["start_loss"] == falling["start_value"] and as_loss["end_loss"] == falling["end_value"]
    assert {k: v for k, v in as_loss.items() if not k.endswith("_loss")} == {
        k: v for k, v in falling.items() if not k.endswith("_value")}
    with pytest.raises(ValueError, match="direction"):
        plateau(ITERATIONS, loss, T, "sideways")
