"""Stage 1 of the analysis: every file the analysis reads from disk is read here, once, into typed
records and checked frames.

``runs`` (the ``run.json`` records and the run folders' training logs and qualitative slices),
``tables`` (the per-run tables the aggregate and compare steps combine, and the aggregated
tables), ``regime`` (the snapshot metrics, the validation logs and the compare step's regime
tables) and ``report`` (everything the report reads, in one call). Nothing here globs a results
folder: the runs are the ``run.json`` files the caller names (the rules' inputs, i.e. the runs the
current config resolves), and a run that is named but whose files are missing is an error naming
that run.
"""
