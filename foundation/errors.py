"""The project's error base class: the CLI turns any of these into one line and exit status 2."""

from __future__ import annotations


class UnihubError(Exception):
    """A user-facing error whose message names the problem and the fix.

    Concrete errors also derive from the matching built-in (``ValueError``, ``FileNotFoundError``, ...)
    so that callers catching the built-in keep working.
    """


class InputError(UnihubError, ValueError):
    """Bad input: a file, argument or dataset the project refuses, with the reason."""


class InputTypeError(UnihubError, TypeError):
    """An argument of a type the function does not take (e.g. ``head=True``), with the types it does."""


class MissingInputError(UnihubError, FileNotFoundError):
    """A file or folder the user named does not exist."""
