"""A fake Iterable API server (stdlib HTTP + orjson) for integration tests and demos.

``FakeIterable`` runs it in-process; ``python -m integration_tests.fake_iterable`` runs it as a process;
``build_dataset`` gives the seeded data without a server.
"""

from .data import EXPORT_TYPES, Dataset, build_dataset
from .server import FakeIterable

__all__ = ["EXPORT_TYPES", "Dataset", "FakeIterable", "build_dataset"]
