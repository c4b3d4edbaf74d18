"""The CSV metrics streams (campaigns_metrics, experiment_metrics): one obvious place for both.

- ``batches``: pure; the request's query and the campaign ids in batches sized to the URI limit;
- ``csv_body``: pure; a CSV body to typed records, column names to camelCase keys;
- ``endpoints``: the two endpoints as data (path, column layout, lane);
- ``run``: the stream run that lists the campaign ids and reads the batches.
"""

from __future__ import annotations

from .run import MetricsRun

__all__ = ["MetricsRun"]
