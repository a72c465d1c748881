"""Synthetic datasets generated from a seed, written as raw data in the Decathlon layout.

:mod:`~morse.data.phantoms.abdomen2d` (abdominal CT slices, the stand-in for Synapse),
:mod:`~morse.data.phantoms.brain3d` (brain-tumour MRI volumes, the stand-in for BraTS), both
written by :mod:`~morse.data.phantoms.decathlon_writer`.
"""
