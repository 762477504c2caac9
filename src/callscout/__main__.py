"""``python -m callscout`` and the ``callscout`` console script: the typer app, then an exit."""

from __future__ import annotations

import logging
import os
import sys

from callscout.cli.commands import app


def main() -> None:
    """The console entry point: ``app``, then an exit that skips the interpreter's teardown.

    A command has closed its store and written its output when it returns. Freeing the
    Whisper model, spaCy and every module one by one after that took 0.2 s of each
    ``process`` run (4 % of the 80 s bench file's). Logging and both streams are flushed first.
    """
    try:
        app()
        code = 0
    except SystemExit as stop:
        code = exit_status(stop.code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``| head``): nothing more to write
            pass
    os._exit(code)


def exit_status(code: object) -> int:
    """The process status ``sys.exit(code)`` would give, printing a message as it does."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    main()
