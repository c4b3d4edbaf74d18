"""Late-indexed rows: each sync reads again the ``lookback`` before its bookmark and delivers only the
rows it had not delivered (``digests``: what the state remembers; ``window_filter``: a window's rows)."""
