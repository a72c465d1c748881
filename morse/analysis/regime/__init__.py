"""Is each comparison evidence about the method? The regime of an experiment, judged once in the
compare step and read by the report (docs/regime.md):

- :mod:`~morse.analysis.regime.heads`: is each point head trained (refinement counts, point-loss
  plateau; ``head_adequacy.csv``);
- :mod:`~morse.analysis.regime.backbone`: is each backbone trained (validation-Dice plateau of its
  pretrain and baseline runs, baseline test Dice against the field's published reference;
  ``backbone_adequacy.csv``);
- :mod:`~morse.analysis.regime.budget`: the paired differences at each training snapshot and
  their trend (``budget_comparisons.csv``, ``budget_trends.csv``);
- :mod:`~morse.analysis.regime.adequacy`: the ``adequacy`` and ``budget_trend`` columns of every
  ``comparisons.csv`` row.
"""
