"""What is computed over runs, after they are evaluated, as a one-way chain: ``inputs`` (every
file read from disk) -> ``aggregate``, ``stats``, ``summaries`` and ``regime`` (is each comparison
evidence: backbone and head adequacy, the effect across the training budget; ``compare`` is the
compare step over ``stats`` and ``regime``) -> ``plots`` -> ``report``.

The per-run, per-case numbers it reads are computed by :mod:`morse.evaluation`; nothing here
imports the training engine (nor torch).
"""
