"""Base class for ``jupyter mlops`` subcommands.

The top-level command (``app.py``) picks the subcommand; each subcommand parses its
own arguments with argparse.
User errors (:class:`~jupyter_mlops.errors.MlopsError`) become ``error: ...`` lines
on stderr and the error's exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from ..errors import MlopsError
from ..settings import MlopsWarning


def _show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
    """``warning: <message>`` on stderr for our warnings; the usual format for the rest."""
    if issubclass(category, MlopsWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        _default_show(message, category, filename, lineno, file, line)


_default_show = warnings.showwarning


class Subcommand:
    """A subcommand: subclasses set ``name`` and ``description`` and implement
    :meth:`add_arguments` and :meth:`run`."""

    name = ""
    description = ""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare this subcommand's arguments."""

    def run(self, args: argparse.Namespace) -> int:
        """Do the work and return the exit code."""
        raise NotImplementedError

    def main(self, argv: list[str]) -> int:
        """Parse ``argv``, run, and return the exit code (user errors: one line each)."""
        parser = argparse.ArgumentParser(
            prog=f"jupyter mlops {self.name}", description=self.description
        )
        self.add_arguments(parser)
        args = parser.parse_args(argv)
        warnings.showwarning = _show_warning
        try:
            code = self.run(args)
            sys.stdout.flush()
        except MlopsError as exc:
            for message in exc.messages:
                print(f"error: {message}", file=sys.stderr)
            code = exc.exit_code
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            code = 130
        except BrokenPipeError:
            # the reader went away (`jupyter mlops runs | head`): not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = 0
        return code or 0
