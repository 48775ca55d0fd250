"""Pure rate limit for warning lines: a storm becomes a few lines a minute, with a count.

Each key (an event name plus whatever makes one fault distinct, e.g. the pixel and the cause)
may emit ``per_window`` lines per ``window_s``. Further occurrences inside the window are
counted, not logged; the next line the key is allowed to emit carries that count
(``suppressed``), so nothing is hidden, only summarized. Keys are bounded by what callers
pass (pixel ids, causes and reasons come from the configuration or fixed vocabularies); keys
idle for a whole window are forgotten so the table never grows with time.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["LogLimiter"]

# Forget idle keys at most this often (a sweep is O(keys)); one window keeps the table small.
_SWEEP_EVERY_WINDOWS = 1.0


@dataclass(slots=True)
class _Window:
    started: float
    emitted: int = 0
    suppressed: int = 0


class LogLimiter:
    """``admit(key, now)``: the suppressed count to report when the line may go out, else None."""

    def __init__(self, per_window: int = 3, window_s: float = 60.0) -> None:
        if per_window < 1 or window_s <= 0:
            raise ValueError("per_window must be >= 1 and window_s > 0")
        self.per_window = per_window
        self.window_s = window_s
        self._windows: dict[Hashable, _Window] = {}
        self._swept_at = 0.0

    def admit(self, key: Hashable, now: float) -> int | None:
        """Count one occurrence of ``key``; return how many were held back before it, or None
        when this one is held back too."""
        self._sweep(now)
        window = self._windows.get(key)
        if window is None or now - window.started >= self.window_s:
            carried = window.suppressed if window is not None else 0
            self._windows[key] = _Window(now, emitted=1)
            return carried
        if window.emitted < self.per_window:
            window.emitted += 1
            carried, window.suppressed = window.suppressed, 0
            return carried
        window.suppressed += 1
        return None

    def pending(self) -> dict[Hashable, int]:
        """Keys with occurrences held back and not reported yet (for a final summary)."""
        return {key: w.suppressed for key, w in self._windows.items() if w.suppressed}

    def reset(self) -> None:
        """Forget every key (a new run in the same process, e.g. tests)."""
        self._windows.clear()

    def _sweep(self, now: float) -> None:
        if now - self._swept_at < self.window_s * _SWEEP_EVERY_WINDOWS:
            return
        self._swept_at = now
        stale = [
            key
            for key, w in self._windows.items()
            if now - w.started >= 2 * self.window_s and not w.suppressed
        ]
        for key in stale:
            del self._windows[key]
