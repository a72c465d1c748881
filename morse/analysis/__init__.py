"""What is computed over runs, after they are evaluated, as a one-way chain: ``inputs`` (every
file read from disk) -> ``aggregate``, ``stats`` and ``summaries`` -> ``plots`` -> ``report``.

The per-run, per-case numbers it reads are computed by :mod:`morse.evaluation`; nothing here
imports the training engine (nor torch).
"""
