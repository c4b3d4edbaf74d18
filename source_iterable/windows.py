"""Date windows for the export API: contiguous, half-open ``[start, end)``, whole seconds.

The export endpoint treats ``startDateTime`` as inclusive and ``endDateTime`` as exclusive, and
its timestamps have one-second resolution. Windows that share their boundaries therefore cover
every second exactly once: no gap (a peer's "end minus one second" loses a second per window)
and no overlap (which would emit boundary rows twice).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

# Below this a window is not split further: a failure on one minute of events is not a size
# problem, and splitting on would spend the 4-a-minute export budget for nothing.
DEFAULT_SPLIT_FLOOR = timedelta(minutes=15)


@dataclass(frozen=True, order=True)
class Window:
    start: datetime
    end: datetime

    @property
    def width(self) -> timedelta:
        return self.end - self.start

    def __str__(self) -> str:
        return f"[{self.start:%Y-%m-%dT%H:%M:%SZ}, {self.end:%Y-%m-%dT%H:%M:%SZ})"


def whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def export_upper_bound(now: datetime, lag: timedelta) -> datetime:
    """The exclusive end of the newest window we may read: now minus the indexing lag."""
    return whole_second(now - lag)


def date_windows(start: datetime, end: datetime, size: timedelta) -> Iterator[Window]:
    """Contiguous windows of ``size`` from ``start`` up to ``end``; the last one may be shorter.

    Yields nothing when ``start >= end`` (a bookmark at or past the upper bound).
    """
    if size <= timedelta(0):
        raise ValueError("window size must be positive")
    cursor = whole_second(start)
    end = whole_second(end)
    while cursor < end:
        upper = min(cursor + size, end)
        yield Window(cursor, upper)
        cursor = upper


def split_window(window: Window, floor: timedelta = DEFAULT_SPLIT_FLOOR) -> tuple[Window, Window] | None:
    """Two halves meeting at a whole second, or None when a half would be narrower than ``floor``."""
    half_seconds = int(window.width.total_seconds()) // 2
    if half_seconds < max(1, int(floor.total_seconds())):
        return None
    middle = window.start + timedelta(seconds=half_seconds)
    return Window(window.start, middle), Window(middle, window.end)


def api_datetime(moment: datetime) -> str:
    """The query-parameter form the export API documents: ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")
