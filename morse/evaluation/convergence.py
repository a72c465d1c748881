"""Has the point loss stopped falling? A plateau criterion on a run's training log.

Definition: take the log rows of the last ``window`` fraction of training (default the last
fifth, iterations in ((1 - window) T, T]); smooth them with a least-squares line of point loss
against iteration; the *relative change* is the line's fall across the window divided by the
window's mean point loss, with its standard error ``se`` from the fit's residuals. The point
loss is still descending when that fall is significantly larger than ``threshold`` (default 5 %):
one-sided at 95 %, ``relative_change - 1.645 se > threshold``; otherwise it is on its plateau
(``converged``). A run stopped in the middle of its descent fails; a rising line counts as a
plateau (it is not descending). Why a test and not the bare estimate: on the default experiment
the fit's SE over the last fifth is 5-10 % of the mean loss (batch-to-batch noise of the sampled
points), as large as the threshold, so comparing the estimate alone with 5 % flipped between
seeds of equally trained heads (``docs/head_budget.md``); the SE is reported beside it. Fewer than eight finite log rows in the window give ``converged = None``. Each
``train_log.csv`` row is the mean over the ``log_every`` steps since the previous row, so the fit
does not chase single-batch noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PLATEAU_WINDOW = 0.2
PLATEAU_THRESHOLD = 0.05
PLATEAU_Z = 1.645  # one-sided 95 %: "significantly still falling by more than the threshold"
MIN_ROWS = 8  # fewer rows in the window leave the SE too wide to judge: undetermined

__all__ = ["PLATEAU_THRESHOLD", "PLATEAU_WINDOW", "PLATEAU_Z", "point_loss_plateau"]


def point_loss_plateau(
    iterations: Sequence[float],
    point_loss: Sequence[float],
    total_iterations: int,
    window: float = PLATEAU_WINDOW,
    threshold: float = PLATEAU_THRESHOLD,
) -> dict[str, float | int | bool | None]:
    """The plateau criterion of the module docstring for one run's log.

    Returns ``window_start`` (exclusive) and ``window_end`` iterations, ``n_rows`` used, the
    smoothed ``start_loss`` / ``end_loss`` (the line at the window's ends), ``relative_change``
    (fall / mean loss) with ``relative_change_se`` (its standard error from the fit's residuals:
    single-batch log rows are noisy, so log often enough to fill the window), ``threshold`` and
    ``converged`` (bool: not significantly falling by more than ``threshold``, see the module
    docstring); None where undetermined.
    """
    if not 0.0 < window <= 1.0:
        raise ValueError(f"plateau window must lie in (0, 1], got {window}")
    if total_iterations <= 0:
        raise ValueError(f"total_iterations must be positive, got {total_iterations}")
    t = np.asarray(iterations, dtype=float)
    loss = np.asarray(point_loss, dtype=float)
    start, end = (1.0 - window) * total_iterations, float(total_iterations)
    keep = (t > start) & (t <= end) & np.isfinite(loss)
    result: dict[str, float | int | bool | None] = {
        "window_start": int(round(start)), "window_end": int(total_iterations),
        "n_rows": int(keep.sum()), "start_loss": None, "end_loss": None,
        "relative_change": None, "relative_change_se": None, "threshold": float(threshold),
        "converged": None,
    }
    if keep.sum() < MIN_ROWS or np.ptp(t[keep]) == 0:
        return result
    tw, lw = t[keep], loss[keep]
    slope, intercept = np.polyfit(tw, lw, deg=1)
    start_loss, end_loss = intercept + slope * start, intercept + slope * end
    mean = float(lw.mean())
    result.update(start_loss=float(start_loss), end_loss=float(end_loss))
    if mean > 0:
        relative = float((start_loss - end_loss) / mean)
        residual = lw - (intercept + slope * tw)
        slope_se = np.sqrt((residual**2).sum() / (lw.size - 2) / ((tw - tw.mean()) ** 2).sum())
        se = float(slope_se * (end - start) / mean)
        result.update(relative_change=relative, relative_change_se=se,
                      converged=bool(relative - PLATEAU_Z * se <= threshold))
    return result

