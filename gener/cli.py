"""The ``gener`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading

from gener.commands import VERBS
from gener.errors import GenerError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per available verb."""
    parser = argparse.ArgumentParser(
        prog="gener",
        description="Generate NER datasets and models from questions such as 'Which disease?'.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for module_name in VERBS.values():
        try:
            module = importlib.import_module(f"gener.commands.{module_name}")
        except ModuleNotFoundError as err:
            if err.name == f"gener.commands.{module_name}":
                continue  # verb not shipped in this version
            raise
        module.add_parser(subparsers)
    return parser


def redeliver_lost_interrupts() -> None:
    """Make a Ctrl-C that lands in a finalizer stop the command all the same.

    Python cannot raise from a ``__del__`` method or a generator being collected: it prints
    "Exception ignored in ..." and goes on, so a KeyboardInterrupt raised there is lost and a
    long command runs to its end. Such an interrupt is sent again a moment later (until one
    lands outside a finalizer)."""
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if issubclass(unraisable.exc_type, KeyboardInterrupt):
            threading.Timer(0.05, _interrupt_main_thread).start()
        else:
            previous(unraisable)

    sys.unraisablehook = hook


def _interrupt_main_thread() -> None:
    """SIGINT to the main thread itself, where a sleep or a wait is cut short by it (sent to
    the process, another thread may take it and the main thread see it only later)."""
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    else:
        os.kill(os.getpid(), signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gener`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verb:
        parser.print_help()
        return 2
    redeliver_lost_interrupts()
    try:
        status = int(args.run(args) or 0)
        sys.stdout.flush()
        return status
    except GenerError as err:
        print(f"gener {args.verb}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gener {args.verb}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`gener ask ... | head -3`): stop quietly, with the
        # status of a process ended by SIGPIPE, and keep the exit flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
