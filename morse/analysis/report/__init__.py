"""Stage 4 of the analysis: the self-contained HTML report.

``format`` (numbers, p-values, HTML tables), ``tables`` (results tables), ``provenance`` (what
ran), ``wording`` (sentences), ``figures`` (drawn and embedded), ``build`` (:func:`build_report`)
and ``templates/report.html.j2``.
"""

from morse.analysis.report.build import PHANTOM_WARNING, build_report

__all__ = ["PHANTOM_WARNING", "build_report"]
