"""Readers of the on-disk formats users hold, one module per format.

:mod:`~morse.data.readers.nifti` (NIfTI volumes and their checks),
:mod:`~morse.data.readers.decathlon` (Medical Segmentation Decathlon task folders),
:mod:`~morse.data.readers.nnunet_raw` (nnU-Net v2 raw datasets),
:mod:`~morse.data.readers.image_folders` (2D images and masks: PNG, TIFF, GIF, JPEG ...).
"""
