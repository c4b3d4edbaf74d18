"""Pure: what one export asks Iterable for, in the two forms the two export paths take.

An export is a data type, a date window (or none: every row Iterable has, ``range=All``) and
optionally the fields wanted. data.json takes them as query parameters, ``POST /api/export/start``
as a JSON body; both are built here so the two paths can never ask for different things.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..windows import Window, api_datetime

JSON_LINES = "application/x-json-stream"


@dataclass(frozen=True)
class ExportQuery:
    stream: str  # for messages: the stream the rows are read for
    data_type: str  # dataTypeName: emailSend, user, ...
    window: Window | None = None  # None: no date filter, the whole history
    only_fields: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"window {self.window}" if self.window is not None else "every row (no date filter)"

    def within(self, window: Window) -> ExportQuery:
        return replace(self, window=window)

    def data_json_params(self) -> dict[str, str | list[str]]:
        params: dict[str, str | list[str]] = {"dataTypeName": self.data_type}
        if self.window is None:
            params["range"] = "All"
        else:
            params["startDateTime"] = api_datetime(self.window.start)
            params["endDateTime"] = api_datetime(self.window.end)
        if self.only_fields:
            # data.json documents a repeated parameter (collectionFormat multi).
            params["onlyFields"] = list(self.only_fields)
        return params

    def job_body(self) -> dict[str, str]:
        body = {"dataTypeName": self.data_type, "outputFormat": JSON_LINES}
        if self.window is not None:
            body["startDateTime"] = api_datetime(self.window.start)
            body["endDateTime"] = api_datetime(self.window.end)
        if self.only_fields:
            # The export jobs API takes a comma-separated string.
            body["onlyFields"] = ",".join(self.only_fields)
        return body
