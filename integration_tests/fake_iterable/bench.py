"""Lazily generated emailSend rows for ``--bench-rows N`` (throughput benchmarks).

Row j (0 <= j < N) has createdAt second ``j * 86400 // N`` of 2024-01-01, so any [start, end) window maps
to one contiguous range of j; rows are produced on the fly, in a stride-permuted order (the export API
does not sort), and nothing proportional to N is kept in memory.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from .people import DOMAINS, FIRST, LAST
from .timefmt import epoch, export_ts

DAY_START = epoch(2024, 1, 1)
DAY_SECONDS = 86_400
BATCH_ROWS = 128
_MASK128 = (1 << 128) - 1
# Odd multipliers make j -> j*K mod 2**128 a bijection, so every row gets a distinct messageId.
_MID_MUL = 0x9E3779B97F4A7C15F39CC0605CEDC835
_BUS_MUL = 0xD1B54A32D192ED03
_MID_ADD = 0x5BD1E9955BD1E9955BD1E9955BD1E995  # affine shift: row 0 is not all zeros
_ROW = b'%s"messageBusId":"0100018e%016x-000000","messageId":"%032x","createdAt":"%s"}\n'
_PRIMES = (1_000_003, 998_244_353, 1_000_000_007)


class BenchEmailSend:
    def __init__(self, rows: int, seed: int = 7) -> None:
        if not 0 < rows <= 10_000_000:
            raise ValueError("bench rows must be between 1 and 10,000,000")
        self.rows = rows
        rng = random.Random(f"{seed}:bench")
        self._prefixes = [self._prefix(rng, i) for i in range(4093)]
        # One preformatted timestamp per second of the day: 86,400 short byte strings, independent of N.
        self._stamps = [export_ts(DAY_START + s).encode() for s in range(DAY_SECONDS)]

    @staticmethod
    def _prefix(rng: random.Random, index: int) -> bytes:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        campaign = 7_000_000 + rng.randint(1, 9000)
        parts = [
            f'{{"email":"{first}.{last}{index}@{rng.choice(DOMAINS)}"',
            f'"userId":"u-{2_000_000 + index}"' if rng.random() < 0.8 else None,
            f'"messageTypeId":{rng.choice([52001, 52002, 52010])}',
            f'"catalogLookupCount":{rng.choice([0, 0, 1])}',
            f'"campaignId":{campaign}',
            f'"templateId":{campaign + 2_100_000}',
            f'"channelId":{rng.choice([41001, 41002])}',
            f'"contentId":{rng.randint(15_000_000, 15_999_999)}',
            '"catalogCollectionCount":0',
            f'"productRecommendationCount":{rng.choice([0, 0, 4])}',
            f'"espName":"{rng.choice(["SparkPost", "SendGrid"])}"' if rng.random() < 0.5 else None,
        ]
        if rng.random() < 0.3:
            order, total = rng.randint(1000, 99999), rng.randint(1, 400)
            parts.append(f'"transactionalData":"{{\\"orderId\\":\\"B-{order}\\",\\"total\\":{total}.5}}"')
        return (",".join(p for p in parts if p) + ",").encode()

    def window(self, start: float | None, end: float | None) -> tuple[int, Iterator[list[bytes]]]:
        """(row count, batches of NDJSON lines) for createdAt in [start, end)."""
        n = self.rows
        first = 0 if start is None else math.ceil(start) - DAY_START
        stop = DAY_SECONDS if end is None else math.ceil(end) - DAY_START
        first, stop = max(first, 0), min(stop, DAY_SECONDS)
        if first >= stop:
            return 0, iter(())
        # Smallest j with j*86400//n >= s is ceil(s*n/86400).
        lo, hi = -(-first * n // DAY_SECONDS), -(-stop * n // DAY_SECONDS)
        return hi - lo, self._batches(lo, hi)

    def _batches(self, lo: int, hi: int) -> Iterator[list[bytes]]:
        size = hi - lo
        step = next(p for p in _PRIMES if size % p)  # coprime stride -> a permutation of the range
        prefixes, stamps, n, row = self._prefixes, self._stamps, self.rows, _ROW
        count = len(prefixes)
        for k0 in range(0, size, BATCH_ROWS):
            yield [
                row
                % (
                    prefixes[j % count],
                    (j * _BUS_MUL + 0x18E1A2B) & 0xFFFFFFFFFFFFFFFF,
                    (j * _MID_MUL + _MID_ADD) & _MASK128,
                    stamps[j * DAY_SECONDS // n],
                )
                for j in (lo + (k * step) % size for k in range(k0, min(k0 + BATCH_ROWS, size)))
            ]
