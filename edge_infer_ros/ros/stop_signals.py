"""SIGINT and SIGTERM as a stop request, so Ctrl-C never interrupts a node half-way.

Kept free of rclpy imports: the detector's entry point installs it before the slow imports, so a
Ctrl-C during start-up is a request like any other, not a ``KeyboardInterrupt`` traceback.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

__all__ = ['StopSignals']

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Turns SIGINT and SIGTERM into a stop request while installed (main thread only).

    However often a signal comes (a terminal Ctrl-C and launch's forwarded SIGINT arrive a few
    hundred milliseconds apart), it only sets the request; the owner decides when to stop.
    """

    def __init__(self) -> None:
        self._requested = threading.Event()
        self.name = ''
        """The first stop signal's name (``SIGINT``), once one arrived."""

    @property
    def requested(self) -> bool:
        """Whether a stop signal arrived."""
        return self._requested.is_set()

    def install(self) -> StopSignals:
        """Handle the signals from now on; returns self."""
        for signum in _SIGNALS:
            signal.signal(signum, self._handle)
        return self

    def ignore_from_now_on(self) -> None:
        """Ignore the signals for the rest of the process, once its work is done.

        Python resets its own handlers to the default action while the interpreter finalizes,
        so a SIGINT arriving then (launch's forwarded copy of the terminal's Ctrl-C) would kill
        the exiting process: exit code -2 where launch expects 0. Ignored signals stay ignored.
        """
        for signum in _SIGNALS:
            signal.signal(signum, signal.SIG_IGN)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self._requested.is_set():
            self.name = signal.Signals(signum).name
        self._requested.set()
