"""Section "Is the head trained?": refinement at the pixels it overwrote, and the point-loss plateau.

The verdicts are judged once, by the compare step (:mod:`morse.analysis.regime.heads`, written to
``head_adequacy.csv``); this module only formats that table and the run records' point-loss
plateaus (:func:`morse.analysis.convergence.plateau_table`) and words the heads that break more
than they fix. The verdict and gain wording read the ``adequacy`` column of ``comparisons.csv``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from markupsafe import Markup

from morse.analysis.convergence import plateau_table
from morse.analysis.inputs.runs import Run
from morse.analysis.refinement import UNDER_TRAINED
from morse.analysis.regime.heads import HURTS_CONVERGED
from morse.analysis.report.format import fmt, fmt_ci, is_missing
from morse.analysis.vocabulary import variant_rank
from morse.evaluation.refinement import ALL_STEPS

__all__ = ["HURTS_CONVERGED", "UNDER_TRAINED_SENTENCE", "ablation_warnings", "adequacy_table", "plateau_display",
           "under_trained_sentences"]  # fmt: skip

#: What the report says of a head whose refinement breaks more pixels than it fixes.
UNDER_TRAINED_SENTENCE = "under-trained: its refined output is not evidence about the method"
HURTS_CONVERGED_SENTENCE = ("its refinement breaks more than it fixes although its point loss is on its "
                            "plateau in every seed: the head is trained, and at this setting refinement "
                            "does not help; its refined output is evidence of that")


def _pct(value: object) -> str:
    return "n/a" if is_missing(value) else f"{100.0 * float(value):.1f} %"


def adequacy_table(table: pd.DataFrame) -> pd.DataFrame:
    """The head-adequacy table: per dataset x backbone x variant x step, the pooled accuracies at
    the overwritten pixels, fixed / broken counts, the per-case change with its CI, the verdict."""
    if table.empty:
        return pd.DataFrame()
    table = table.assign(_v=table["variant"].astype(str).map(variant_rank),
                         _s=table["step"].map(lambda s: (s == ALL_STEPS, str(s))))  # fmt: skip
    table = table.sort_values(["dataset", "backbone", "_v", "_s"], kind="mergesort")

    def count(value: object) -> str:
        return "–" if is_missing(value) else str(int(value))

    return pd.DataFrame([{
        "dataset": r.dataset, "backbone": r.backbone, "variant": r.variant,
        "step": "–" if is_missing(r.step) else ("all steps" if r.step == ALL_STEPS else str(r.step)),
        "cases × seeds": "–" if is_missing(r.n_cases) else f"{int(r.n_cases)} × {int(r.n_seeds)}",
        "overwritten pixels": count(r.overwritten),
        "coarse accuracy": _pct(r.coarse_accuracy), "refined accuracy": _pct(r.refined_accuracy),
        "fixed": count(r.fixed), "broken": count(r.broken),
        "per-case change [95% CI]": "–" if is_missing(r.case_mean_change) else
        fmt_ci(r.case_mean_change, r.ci_low, r.ci_high, 3),
        "verdict": r.verdict,
    } for r in table.itertuples(index=False)])  # fmt: skip


def under_trained_sentences(table: pd.DataFrame) -> list[Markup]:
    """One sentence per head that breaks more than it fixes (escaped text, the verdict in bold):
    under-trained, or trained and not helping (:data:`HURTS_CONVERGED`)."""
    if table.empty:
        return []
    sentence = {UNDER_TRAINED: UNDER_TRAINED_SENTENCE, HURTS_CONVERGED: HURTS_CONVERGED_SENTENCE}
    hit = table[(table["step"] == ALL_STEPS) & table["verdict"].isin(sentence)]
    return [Markup("{} / {}, {}: <strong>{}</strong> (at the pixels refinement overwrote it broke {} "
                   "correct coarse labels and fixed {}).").format(
        r.dataset, r.backbone, r.variant, sentence[r.verdict], int(r.broken), int(r.fixed))
        for r in hit.itertuples(index=False)]  # fmt: skip


def plateau_display(runs: Sequence[Run]) -> pd.DataFrame:
    """Per head run: has the point loss reached its plateau (yes / no / undetermined), the
    relative change of its smoothed value over the last window ± SE, the end loss."""
    table = plateau_table(run.info for run in runs)
    if table.empty:
        return pd.DataFrame()

    def converged(value: object) -> str:
        return "undetermined" if is_missing(value) else ("yes" if bool(value) else "no")

    def change(value: object, se: object) -> str:
        return "n/a" if is_missing(value) else f"{100.0 * float(value):+.1f} % ± {_pct(se)}"

    return pd.DataFrame([{
        "dataset": r.dataset, "backbone": r.backbone, "variant": r.variant, "seed": r.seed,
        "point loss on its plateau": converged(r.converged),
        "fall over the last window ± SE (of its mean)": change(r.relative_change, r.relative_change_se),
        "still falling if fall − 1.645 SE exceeds": _pct(r.threshold), "end point loss": fmt(r.end_loss, 4),
        "log rows in window": r.n_rows,
    } for r in table.itertuples(index=False)])  # fmt: skip


def ablation_warnings(trends: pd.DataFrame | None) -> list[str]:
    """One sentence per dataset x backbone x knob whose trend runs through an under-trained point
    (``ablation_trends.csv``'s ``adequacy``), for the top of the report: such a sweep does not
    answer its question, and the sentence says which points and why."""
    if trends is None or trends.empty or "adequacy" not in trends:
        return []
    out = []
    bad = trends[trends["adequacy"].astype(str).isin(["head under-trained", "backbone under-trained"])]
    for (dataset, backbone, knob), group in bad.groupby(["dataset", "backbone", "knob"], sort=True):
        backbone_bad = (group["adequacy"].astype(str) == "backbone under-trained").any()
        values = sorted({v for text in group["under_trained"].dropna().astype(str) for v in text.split(";") if v})
        if backbone_bad:
            why, what = f"the {backbone} backbone is under-trained on {dataset}", "its trends are"
        else:
            why = (f"the head at {knob} = {', '.join(values)} breaks more labels than it fixes with its point "
                   "loss not on its plateau")  # fmt: skip
            what = "its trend over the refined output is"
        out.append(f"The ablation over {knob} on {dataset} / {backbone} does not pass the adequacy checks: {why}; "
                   f"{what} not evidence about the method (see \"Is the head trained?\" and the Ablations section).")  # fmt: skip
    return out

