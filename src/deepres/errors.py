"""Exceptions. An :class:`InputError` is the user's to fix: the CLI prints its message on one
line and exits with status 2."""


class DeepResError(Exception):
    """Base class of deepres' own errors."""


class InputError(DeepResError, ValueError):
    """Bad input (file, header, mask, option). The message says what is wrong and how to fix it."""
