"""The prepared format every dataset is converted to, and the conversion from NIfTI.

:mod:`~morse.data.prepared.format` (the on-disk layout, ``DatasetInfo``, reading and writing
cases), :mod:`~morse.data.prepared.from_nifti` (NIfTI -> prepared), with
:mod:`~morse.data.prepared.splits` (train / val / test) and
:mod:`~morse.data.prepared.intensity` (normalisation).
"""
