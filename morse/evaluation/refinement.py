"""What subdivision inference did at the pixels it overwrote, per case.

Per run, ``refinement.csv`` (written at evaluation) has one row per case x subdivision step x
reference class, with counts at the pixels that step overwrote: ``overwritten``,
``coarse_correct`` / ``refined_correct`` (the backbone's coarse label, the final refined label
against the reference), ``fixed`` (coarse wrong, refined right), ``broken`` (right -> wrong) and
``wrong_to_wrong``. ``step`` is "1".."S" for the pixels step s overwrote and "all" for those any
step overwrote. The point head reads the original coarse logits, so every overwritten pixel ends
with its point prediction: the refined label there is the head's answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RUN_COLUMNS = ["dataset", "backbone", "variant", "seed"]
COUNT_COLUMNS = ["overwritten", "coarse_correct", "refined_correct", "fixed", "broken", "wrong_to_wrong"]
REFINEMENT_COLUMNS = [*RUN_COLUMNS, "case", "step", "class", "class_index", *COUNT_COLUMNS]
ALL_STEPS = "all"

__all__ = ["ALL_STEPS", "COUNT_COLUMNS", "REFINEMENT_COLUMNS", "RUN_COLUMNS", "refinement_counts"]


def refinement_counts(
    coarse: np.ndarray,
    refined: np.ndarray,
    overwritten: np.ndarray,
    reference: np.ndarray,
    class_names: Sequence[str],
) -> list[dict]:
    """Counts at the overwritten pixels of one case, per step (and "all") and reference class.

    ``coarse``, ``refined``, ``reference``: label maps of one shape; ``overwritten``: bool
    (S, *that shape), the pixels subdivision step s overwrote. Returns row dicts with ``step``,
    ``class``, ``class_index`` and :data:`COUNT_COLUMNS` (every class, zeros included).
    """
    if not (coarse.shape == refined.shape == reference.shape == overwritten.shape[1:]):
        raise ValueError(
            f"refinement_counts: shapes differ: coarse {coarse.shape}, refined {refined.shape}, "
            f"reference {reference.shape}, overwritten {overwritten.shape} (expected (S, *shape))"
        )
    coarse_right = coarse == reference
    refined_right = refined == reference
    masks = [(str(s + 1), overwritten[s]) for s in range(overwritten.shape[0])]
    masks.append((ALL_STEPS, overwritten.any(axis=0)))
    rows = []
    for step, mask in masks:
        for index, name in enumerate(class_names):
            at = mask & (reference == index)
            c, r = coarse_right[at], refined_right[at]
            rows.append({
                "step": step, "class": name, "class_index": index,
                "overwritten": int(at.sum()), "coarse_correct": int(c.sum()),
                "refined_correct": int(r.sum()), "fixed": int((~c & r).sum()),
                "broken": int((c & ~r).sum()), "wrong_to_wrong": int((~c & ~r).sum()),
            })
    return rows
