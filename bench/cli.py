"""What the benchmark commands share on their command line: a bad flag is
one line naming it, and counts are checked as they are parsed."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not usage and message: the flag and what is wrong with it."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def at_least(minimum: float, kind: Callable[[str], float] = int) -> Callable[[str], float]:
    """A flag's type: a number of ``kind``, at least ``minimum``."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be >= {minimum}")
        return value

    parse.__name__ = getattr(kind, "__name__", "number")
    return parse
