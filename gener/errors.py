"""Errors that gener reports to users as one clear line."""


class GenerError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""
