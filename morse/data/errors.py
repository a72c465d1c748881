"""The errors of the data layer: bad input data, and data that is not there yet."""

from __future__ import annotations

__all__ = ["DataError", "MissingDataError"]


class DataError(ValueError):
    """Invalid input data (corrupt file, inconsistent shapes, labels outside the class map)."""


class MissingDataError(DataError, FileNotFoundError):
    """A required data directory or file does not exist (usually: a workflow step not yet run)."""
