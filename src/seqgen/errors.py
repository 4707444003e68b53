"""Errors that stop a stage with a message for the user rather than a traceback."""


class SeqgenError(Exception):
    """Base class: the stage entry points print the message and exit non-zero."""


class DataError(SeqgenError):
    """Raw or interim data is unreadable or inconsistent; the message names the file and the problem."""


class ConfigError(SeqgenError):
    """params.yaml (or an override) has a missing, unknown or ill-typed key."""


class ValidationFailed(SeqgenError):
    """The data-validation suite found failed expectations; the message lists them."""
