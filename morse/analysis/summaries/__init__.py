"""Stage 2 of the analysis: pure pandas/numpy summaries, each number computed in one place.

``cases`` (the one per-case reduction, per-class points, training curves), ``ablation``,
``boundary_rates`` and ``cost``. Plots and report tables take these frames, never raw folders.
"""
