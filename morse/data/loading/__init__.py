"""Training data from prepared datasets (torch, MONAI): datasets of samples and endless batches.

:mod:`~morse.data.loading.slices2d` (2D slices, ``SliceDataset``),
:mod:`~morse.data.loading.patches3d` (3D patches, ``PatchDataset``), both over
:mod:`~morse.data.loading.case_cache` (memory-mapped cases), and
:mod:`~morse.data.loading.sampling` (``infinite_loader``: reproducible shuffling and seeds).
"""
