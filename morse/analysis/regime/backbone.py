"""Is each backbone trained? Per dataset x backbone (``backbone_adequacy.csv``), from two pieces
of evidence:

1. **Convergence**: the validation-Dice plateau (``run.json`` ``validation.plateau``, the same
   statistic as the point loss's, for a metric that rises) of every pretrain run (protocol
   two_stage) and every baseline run. One run still rising makes ``val_converged`` False; all on
   their plateau make it True; otherwise (no validation split, runs made before validation
   logging, too few log rows) it is None.
2. **The field's reference**: the baseline's test Dice (coarse output; per case the mean over
   the foreground classes, then over seeds and cases, as ``comparisons.csv``'s
   ``mean_reference``) divided by the published Dice of that dataset kind x backbone whose row in
   ``config/reference_results.csv`` has ``role: backbone_reference``.

State: **under-trained** when any evidence says so (a run still rising, or a fraction below
``regime.min_reference_fraction``); **trained** when at least one piece says so and none
contradicts it (so a backbone without a published reference is judged by convergence alone);
**undetermined** otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from morse.analysis.inputs.runs import Run
from morse.analysis.summaries.cases import case_values
from morse.config import BACKBONE_REFERENCE, REFERENCE_VARIANT

__all__ = ["BACKBONE_COLUMNS", "TRAINED", "UNDER_TRAINED", "UNDETERMINED", "backbone_adequacy",
           "plateau_phrase", "validation_converged"]  # fmt: skip

TRAINED, UNDER_TRAINED, UNDETERMINED = "trained", "under-trained", "undetermined"
BACKBONE_COLUMNS = ["dataset", "backbone", "state", "reason", "val_converged", "baseline_dice",
                    "reference_dice", "reference_fraction", "reference_source", "reference_protocol",
                    "min_fraction"]  # fmt: skip
NO_REFERENCE = "no published reference: judged by convergence alone"


def _plateau(run: Run) -> dict[str, Any] | None:
    validation = run.info.get("validation")
    plateau = validation.get("plateau") if isinstance(validation, dict) else None
    return plateau if isinstance(plateau, dict) else None


def _stage(run: Run) -> str:
    return "pretraining" if run.is_pretrain else f"the {run.variant} run"


def _window(plateau: dict[str, Any]) -> str:
    start, end = plateau.get("window_start"), plateau.get("window_end")
    if start is None or not end:
        return "over its last window"
    share = (float(end) - float(start)) / float(end)
    named = {0.2: "fifth", 0.25: "quarter", 0.5: "half"}
    word = next((w for s, w in named.items() if abs(share - s) < 1e-6), None)
    return f"over the last {word}" if word else f"over iterations {int(start)}-{int(end)}"


def plateau_phrase(plateau: dict[str, Any]) -> str:
    """``+3.1 % ± 0.8 % over the last fifth``: the smoothed change of the validation Dice over
    the plateau window relative to its mean (the sign says which way it moved) ± its SE."""
    change, se = plateau.get("relative_change"), plateau.get("relative_change_se")
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return "change not estimated"
    start, end = plateau.get("start_value"), plateau.get("end_value")
    sign = 1.0 if start is None or end is None else math.copysign(1.0, float(end) - float(start))
    text = f"{100.0 * sign * abs(float(change)):+.1f} %"
    if se is not None and not (isinstance(se, float) and math.isnan(se)):
        text += f" ± {100.0 * float(se):.1f} %"
    return f"{text} {_window(plateau)}"


def validation_converged(runs: Sequence[Run]) -> tuple[bool | None, str]:
    """(val_converged, its sentence) over the given pretrain and baseline runs (see the module
    docstring); the sentence names the first run still rising, with its change ± SE."""
    verdicts = [(run, _plateau(run)) for run in runs]
    rising = [(run, p) for run, p in verdicts if p is not None and p.get("converged") is False]
    if rising:
        run, plateau = rising[0]
        more = f" (and {len(rising) - 1} more run(s))" if len(rising) > 1 else ""
        return False, (f"validation Dice still rising at the end of {_stage(run)}, seed {run.seed} "
                       f"({plateau_phrase(plateau)}){more}")  # fmt: skip
    if verdicts and all(p is not None and p.get("converged") is True for _, p in verdicts):
        stages = "pretrain and baseline runs" if any(r.is_pretrain for r in runs) else "baseline runs"
        return True, f"validation Dice on its plateau in every {stages} ({len(verdicts)} run(s))"
    if not verdicts or all(p is None for _, p in verdicts):
        return None, "no validation curve recorded (no validation split, or runs made before validation logging)"
    return None, "validation Dice plateau undetermined in some runs (too few validation rows in the window)"


def _reference(references: pd.DataFrame, kind: str | None, backbone: str) -> dict[str, Any] | None:
    """The dataset kind x backbone's field reference Dice (as a fraction), its source and protocol."""
    if kind is None or references.empty or "role" not in references.columns:
        return None
    rows = references[(references["dataset"].astype(str).str.strip().str.lower() == kind.lower())
                      & (references["backbone"].astype(str).str.strip() == backbone)
                      & (references["metric"].astype(str).str.strip() == "dice")
                      & (references["role"].astype(str).str.strip() == BACKBONE_REFERENCE)]  # fmt: skip
    if rows.empty:
        return None
    row = rows.iloc[0]
    scale = 100.0 if str(row["unit"]).strip() == "%" else 1.0
    source = ", ".join(str(s) for s in (row["source"], row["table"]) if str(s).strip())
    return {"value": float(row["value"]) / scale, "published": f"{float(row['value']):g}",
            "source": source, "protocol": str(row.get("protocol", "") or "")}  # fmt: skip


def _baseline_dice(metrics: pd.DataFrame, dataset: str, backbone: str, reference: str) -> float:
    rows = metrics[(metrics["dataset"].astype(str) == dataset) & (metrics["backbone"].astype(str) == backbone)
                   & (metrics["variant"].astype(str) == reference) & (metrics["output"].astype(str) == "coarse")]  # fmt: skip
    if rows.empty:
        return math.nan
    values = case_values(rows, "dice").dropna()
    return float(values.groupby(level="case").mean().mean()) if len(values) else math.nan


def _judge(converged: bool | None, fraction: float, min_fraction: float) -> str:
    low = not math.isnan(fraction) and fraction < min_fraction
    if converged is False or low:
        return UNDER_TRAINED
    if converged is True or (not math.isnan(fraction) and fraction >= min_fraction):
        return TRAINED
    return UNDETERMINED


def backbone_adequacy(runs: Sequence[Run], pretrain: Sequence[Run], metrics: pd.DataFrame,
                      references: pd.DataFrame, min_fraction: float = 0.9,
                      reference_variant: str = REFERENCE_VARIANT) -> pd.DataFrame:  # fmt: skip
    """One row per dataset x backbone of ``runs`` with the columns of :data:`BACKBONE_COLUMNS`
    (``reference_dice`` in Dice units, as ``baseline_dice``). ``references`` is the published
    numbers' table; rows are matched on the dataset *kind* the runs record (``dataset_kind``)."""
    rows = []
    for dataset, backbone in sorted({(r.dataset, r.backbone) for r in runs}):
        here = [r for r in runs if (r.dataset, r.backbone) == (dataset, backbone)]
        judged = [r for r in [*pretrain, *here] if (r.dataset, r.backbone) == (dataset, backbone)
                  and (r.is_pretrain or r.variant == reference_variant)]  # fmt: skip
        converged, convergence = validation_converged(judged)
        kind = next((str(r.info["dataset_kind"]) for r in here if r.info.get("dataset_kind")), dataset)
        reference = _reference(references, kind, backbone)
        dice = _baseline_dice(metrics, dataset, backbone, reference_variant)
        fraction = dice / reference["value"] if reference and reference["value"] > 0 else math.nan
        if reference is None:
            compared = NO_REFERENCE
        elif math.isnan(fraction):
            compared = f"no baseline test Dice to set beside the reference Dice, {reference['published']}"
        else:
            protocol = f", {reference['protocol']}" if reference["protocol"] else ""
            below = f", below the {100 * min_fraction:.0f} % required" if fraction < min_fraction else ""
            compared = (f"the baseline's test Dice {dice:.3f} reaches {100 * fraction:.0f} % of the reference Dice, "
                        f"{reference['published']} ({reference['source']}{protocol}){below}")  # fmt: skip
        state = _judge(converged, fraction, min_fraction)
        rows.append({"dataset": dataset, "backbone": backbone, "state": state,
                     "reason": f"{state}: {convergence}; {compared}",
                     "val_converged": converged, "baseline_dice": dice,
                     "reference_dice": reference["value"] if reference else math.nan,
                     "reference_fraction": fraction,
                     "reference_source": reference["source"] if reference else "",
                     "reference_protocol": reference["protocol"] if reference else "",
                     "min_fraction": float(min_fraction)})  # fmt: skip
    return pd.DataFrame(rows, columns=BACKBONE_COLUMNS).astype({"val_converged": object})  # True/False/None
