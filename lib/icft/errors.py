"""User-facing errors: what went wrong, where, and how to fix it.

The CLI turns an `IcftError` into one message and exit code 2 instead of a traceback.
"""

from __future__ import annotations


class IcftError(Exception):
    """An error caused by input the user can fix (a name, a path, a setting)."""

    exit_code = 2

    def __init__(self, what: str, fix: str | None = None):
        self.what = what
        self.fix = fix
        super().__init__(what if fix is None else f"{what}\n  fix: {fix}")


class ModelError(IcftError):
    """A model name, folder or cache that cannot be used."""
