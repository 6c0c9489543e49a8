"""Errors that gener reports to users as one clear line."""


class GenerError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


def first_line(err: BaseException) -> str:
    """The first line of ``err``'s message (its type name when the message is empty)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
