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


# Windows sized to the data (adaptive windows). A window is "small" under both thresholds, "large"
# over either; a small one doubles the next window (an empty one quadruples it), a large, split or
# truncated one halves it. Sparse streams (complaints, bounces) then cost a few requests for a whole
# backfill instead of one a month, and a busy stream's downloads stay a size that finishes.
SMALL_ROWS = 50_000
SMALL_BYTES = 16 << 20
LARGE_ROWS = 1_000_000
LARGE_BYTES = 256 << 20
MAX_WINDOW = timedelta(days=365)
MIN_WINDOW = timedelta(hours=1)


@dataclass
class WindowSizer:
    """The width of a stream's next export window, learning from each downloaded one."""

    width: timedelta
    adaptive: bool = True

    def observe(self, rows: int, body_bytes: int, split: bool = False, truncated: bool = False) -> None:
        if not self.adaptive:
            return
        if split or truncated or rows > LARGE_ROWS or body_bytes > LARGE_BYTES:
            self.width = max(MIN_WINDOW, whole_seconds(self.width / 2))
        elif rows == 0:
            self.width = min(MAX_WINDOW, self.width * 4)
        elif rows < SMALL_ROWS and body_bytes < SMALL_BYTES:
            self.width = min(MAX_WINDOW, self.width * 2)

    def next_window(self, start: datetime, upper: datetime) -> Window | None:
        """The window that starts at ``start``: ``width`` wide, cut at ``upper``; None past it."""
        start, upper = whole_second(start), whole_second(upper)
        if start >= upper:
            return None
        return Window(start, min(start + self.width, upper))


def whole_seconds(width: timedelta) -> timedelta:
    return timedelta(seconds=int(width.total_seconds()))
