"""Has a training curve stopped moving? One plateau criterion for a metric that should fall
(the point loss of ``train_log.csv``) or rise (the validation Dice of ``val_log.csv``).

Definition: take the rows of the last ``window`` fraction of training (default the last fifth,
iterations in ((1 - window) T, T]); smooth them with a least-squares line of the value against
iteration; the *relative change* is the line's change across the window *in the expected
direction* (a fall for ``direction="falling"``, a rise for ``"rising"``) divided by the window's
mean value, with its standard error ``se`` from the fit's residuals. The curve is still moving
when that change is significantly larger than ``threshold``: one-sided at 95 %,
``relative_change - 1.645 se > threshold``; otherwise it is on its plateau (``converged``). A
run stopped in the middle of its descent (ascent) fails; a line moving the other way counts as a
plateau (it is not improving). Fewer than eight finite rows in the window, or a window mean that
is not positive, give ``converged = None`` (undetermined).

Why a test and not the bare estimate: on the default experiment the fit's SE over the last fifth
of the point loss is 5-10 % of its mean (batch-to-batch noise of the sampled points), as large as
its threshold, so comparing the estimate alone with 5 % flipped between seeds of equally trained
heads (``docs/head_budget.md``); the SE is reported beside it. Each ``train_log.csv`` row is the
mean over the ``log_every`` steps since the previous row, so the fit does not chase single-batch
noise; each ``val_log.csv`` row scores the same validation cases, so its noise is that of the
weights between validations.

Thresholds: the point loss :data:`PLATEAU_THRESHOLD` (5 % of its mean still falling across the
window); the validation Dice :data:`VALIDATION_PLATEAU_THRESHOLD` (1 %: a Dice of 0.80 still
rising by more than 0.008 across the last fifth of training is not on its plateau).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

PLATEAU_WINDOW = 0.2
PLATEAU_THRESHOLD = 0.05  # the point loss
VALIDATION_PLATEAU_THRESHOLD = 0.01  # the validation Dice
PLATEAU_Z = 1.645  # one-sided 95 %: "significantly still moving by more than the threshold"
MIN_ROWS = 8  # fewer rows in the window leave the SE too wide to judge: undetermined

Direction = Literal["falling", "rising"]

__all__ = [
    "MIN_ROWS",
    "PLATEAU_THRESHOLD",
    "PLATEAU_WINDOW",
    "PLATEAU_Z",
    "VALIDATION_PLATEAU_THRESHOLD",
    "plateau",
    "point_loss_plateau",
    "validation_plateau",
]


def plateau(
    iterations: Sequence[float],
    values: Sequence[float],
    total_iterations: int,
    direction: Direction = "falling",
    window: float = PLATEAU_WINDOW,
    threshold: float = PLATEAU_THRESHOLD,
) -> dict[str, float | int | bool | None]:
    """The plateau criterion of the module docstring for one run's curve.

    Returns ``window_start`` (exclusive) and ``window_end`` iterations, ``n_rows`` used, the
    smoothed ``start_value`` / ``end_value`` (the line at the window's ends), ``relative_change``
    (the change in ``direction`` / mean value) with ``relative_change_se`` (its standard error
    from the fit's residuals), ``threshold`` and ``converged`` (bool: not significantly moving
    in ``direction`` by more than ``threshold``); None where undetermined.
    """
    if direction not in ("falling", "rising"):
        raise ValueError(f"plateau direction must be 'falling' or 'rising', got {direction!r}")
    if not 0.0 < window <= 1.0:
        raise ValueError(f"plateau window must lie in (0, 1], got {window}")
    if total_iterations <= 0:
        raise ValueError(f"total_iterations must be positive, got {total_iterations}")
    t = np.asarray(iterations, dtype=float)
    y = np.asarray(values, dtype=float)
    start, end = (1.0 - window) * total_iterations, float(total_iterations)
    keep = (t > start) & (t <= end) & np.isfinite(y)
    result: dict[str, float | int | bool | None] = {
        "window_start": int(round(start)), "window_end": int(total_iterations),
        "n_rows": int(keep.sum()), "start_value": None, "end_value": None,
        "relative_change": None, "relative_change_se": None, "threshold": float(threshold),
        "converged": None,
    }
    if keep.sum() < MIN_ROWS or np.ptp(t[keep]) == 0:
        return result
    tw, yw = t[keep], y[keep]
    slope, intercept = np.polyfit(tw, yw, deg=1)
    start_value, end_value = intercept + slope * start, intercept + slope * end
    mean = float(yw.mean())
    result.update(start_value=float(start_value), end_value=float(end_value))
    if mean > 0:
        change = start_value - end_value if direction == "falling" else end_value - start_value
        relative = float(change / mean)
        residual = yw - (intercept + slope * tw)
        slope_se = np.sqrt((residual**2).sum() / (yw.size - 2) / ((tw - tw.mean()) ** 2).sum())
        se = float(slope_se * (end - start) / mean)
        result.update(relative_change=relative, relative_change_se=se,
                      converged=bool(relative - PLATEAU_Z * se <= threshold))
    return result


def point_loss_plateau(
    iterations: Sequence[float],
    point_loss: Sequence[float],
    total_iterations: int,
    window: float = PLATEAU_WINDOW,
    threshold: float = PLATEAU_THRESHOLD,
) -> dict[str, float | int | bool | None]:
    """:func:`plateau` of a falling point loss, its smoothed ends named ``start_loss`` /
    ``end_loss`` (run.json's ``point_loss_plateau``)."""
    result = plateau(iterations, point_loss, total_iterations, "falling", window, threshold)
    renamed = {"start_value": "start_loss", "end_value": "end_loss"}
    return {renamed.get(key, key): value for key, value in result.items()}


def validation_plateau(
    iterations: Sequence[float],
    dice: Sequence[float],
    total_iterations: int,
    window: float = PLATEAU_WINDOW,
    threshold: float = VALIDATION_PLATEAU_THRESHOLD,
) -> dict[str, float | int | bool | None]:
    """:func:`plateau` of a rising validation Dice (run.json's ``validation.plateau``)."""
    return plateau(iterations, dice, total_iterations, "rising", window, threshold)
