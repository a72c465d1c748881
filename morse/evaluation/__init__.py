"""What is computed per run and per case, while the run is trained and evaluated.

``metrics`` (per-case segmentation metrics, both conventions), ``boundary`` (Boundary IoU and
errors by distance to the true boundary), ``refinement`` (what each subdivision step did at the
pixels it overwrote) and ``convergence`` (the point loss's plateau on a run's training log).
:mod:`morse.engine` writes their results into the run folder; :mod:`morse.analysis` reads and
summarises them over runs. This package imports neither.
"""
