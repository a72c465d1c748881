"""Where raw data comes from: downloads, archives, local folders, and their fingerprints.

:mod:`~morse.data.sources.download` (resumable HTTP downloads, checksums),
:mod:`~morse.data.sources.archives` (safe extraction; download + extract),
:mod:`~morse.data.sources.decathlon_tasks` (MONAI's table of Decathlon tasks, fetching one),
:mod:`~morse.data.sources.local` (``source: local`` folders read in place),
:mod:`~morse.data.sources.fingerprint` (what changed in a data folder, without reading it).
"""
