"""SourceIterable, the CDK source: spec, check and discover; read runs our engine (``read.py``).

``streams()`` is a loop over the stream table: one ``DeclaredStream`` per row tells the CDK the
stream's name, keys, cursor and schema. The console script's ``read`` never comes here; this class's
``read`` serves in-process users of the CDK (its standard tests, an embedding program) by running the
same engine and handing its protocol lines over as the CDK's message objects.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from typing import Any

import orjson
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteStateMessage,
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    ConnectorSpecification,
    FailureType,
    Status,
    SyncMode,
    Type,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .api.budgets import project_limiters
from .api.client import IterableClient, read_json
from .api.errors import ApiError, ConnectorError
from .api.spool import spool_records
from .catalog import STREAMS, StreamSpec
from .config import IterableConfig, parse_config
from .read import read as read_sync
from .readers.jobs import JOBS_PATH
from .readers.users.fields import fetch_user_fields
from .readers.users.project_type import project_type_warning
from .readers.users.schema import (
    build_users_schema,
    case_collisions,
    collision_warning,
    schema_fallback_warning,
)
from .schema_files import stream_schema
from .windows import Window, api_datetime, export_upper_bound

LOGGER = logging.getLogger("airbyte")
CHECK_PATH = "/api/channels"
PROBE_TYPE = "emailSend"


def client_for(config: IterableConfig) -> IterableClient:
    return IterableClient(config.base_url, config.api_key, project_limiters(config.host, config.api_key))


def probe_window(now: datetime, lag: timedelta) -> Window:
    """A one-minute window just behind the indexing lag: the cheapest possible export request."""
    end = export_upper_bound(now, lag)
    return Window(end - timedelta(minutes=1), end)


class DeclaredStream(Stream):
    """A row of the stream table, as the CDK sees a stream."""

    def __init__(self, spec: StreamSpec, raw_config: Mapping[str, Any]) -> None:
        """``spec`` as the configured project type sees it (``StreamSpec.for_project``)."""
        super().__init__()
        self.spec = spec
        self._raw_config = raw_config

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def primary_key(self) -> str | list[str] | None:
        return list(self.spec.primary_key) or None

    @property
    def cursor_field(self) -> str | list[str]:
        return self.spec.cursor or []

    @property
    def supports_incremental(self) -> bool:
        return self.spec.incremental

    # The CDK caches its own version per instance; ours reads the file (users: once, see below).
    def get_json_schema(self) -> Mapping[str, Any]:  # type: ignore[override]
        return stream_schema(self.name, self.spec.schema_folder)

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        """This one stream through the engine (the engine reads every selected stream at once)."""
        incremental = sync_mode is SyncMode.incremental and self.supports_incremental
        # A configured stream as the protocol defines it (read refuses anything less). Its schema
        # declares no properties, so rows pass as they are, as this method's callers expect.
        entry: dict[str, Any] = {
            "stream": {
                "name": self.name,
                "json_schema": {},
                "supported_sync_modes": ["full_refresh", "incremental"]
                if self.supports_incremental
                else ["full_refresh"],
            },
            "sync_mode": SyncMode.incremental.value if incremental else SyncMode.full_refresh.value,
            "destination_sync_mode": "append",
        }
        if incremental:
            entry["cursor_field"] = [self.spec.cursor]
        state = [
            {
                "type": "STREAM",
                "stream": {"stream_descriptor": {"name": self.name}, "stream_state": stream_state},
            }
        ]
        out = io.BytesIO()
        code = read_sync(self._raw_config, {"streams": [entry]}, state if stream_state else None, out)
        for line in out.getvalue().splitlines():
            message = orjson.loads(line)
            if message["type"] == "RECORD":
                yield message["record"]["data"]
        if code:
            raise AirbyteTracedException(
                message=f"stream '{self.name}' did not complete; see its error trace"
            )


class UsersStream(DeclaredStream):
    """``users``: its schema follows the project's own field list (``GET /api/users/getFields``)."""

    _schema: Mapping[str, Any] | None = None

    def get_json_schema(self) -> Mapping[str, Any]:  # type: ignore[override]
        if self._schema is None:
            static = stream_schema(self.name)
            lookup = fetch_user_fields(client_for(parse_config(self._raw_config)), f"stream '{self.name}'")
            if lookup.fields is None:
                LOGGER.warning(schema_fallback_warning(lookup.failure or "unknown failure"))
                self._schema = static
            else:
                self._schema = build_users_schema(static, lookup.fields, self.spec.transform.renames)
                if groups := case_collisions(self._schema.get("properties", {})):
                    LOGGER.warning(collision_warning(groups))
        return self._schema


class SourceIterable(AbstractSource):
    def __init__(self, now: Any = None) -> None:
        super().__init__()
        self._now = now or (lambda: datetime.now(timezone.utc))

    # Our own validation names the field and the accepted form; the CDK's generic jsonschema
    # check would run first and answer with a less helpful message.
    check_config_against_spec = False

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        raw = json.loads(files("source_iterable").joinpath("spec.json").read_text())
        return ConnectorSpecification(**raw)

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        project_type = parse_config(config, self._now()).project_type
        return [
            (UsersStream if spec.name == "users" else DeclaredStream)(spec.for_project(project_type), config)
            for spec in STREAMS
        ]

    # ------------------------------------------------------------------ check

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            ok, message = self.check_connection(logger, config)
            if ok:
                self._check_project_type(parse_config(config, self._now()))
        except ConnectorError as error:
            return AirbyteConnectionStatus(status=Status.FAILED, message=error.message)
        # The CDK would report repr(message), quotes and escapes included.
        return AirbyteConnectionStatus(status=Status.SUCCEEDED if ok else Status.FAILED, message=message)

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        """A resource call for the key, a one-minute export for the key's type, then the export jobs
        API: the answer says which export path this key can use."""
        parsed = parse_config(config, self._now())
        client = client_for(parsed)
        try:
            client.get_json(CHECK_PATH, what="check")
        except ApiError as error:
            if error.key_refused:
                other = "EU" if parsed.region == "US" else "US"
                return False, (
                    f"Iterable rejected the API key on {parsed.base_url} (region {parsed.region}): it is invalid "
                    f"or disabled, or it belongs to a project in the other data center; if your project is in "
                    f"the {other} data center, set region to {other}. Details: {error.message}"
                )
            return False, error.message
        window = probe_window(self._now(), parsed.export_lag)
        params = {
            "dataTypeName": PROBE_TYPE,
            "startDateTime": api_datetime(window.start),
            "endDateTime": api_datetime(window.end),
        }
        try:
            body = client.request(
                "/api/export/data.json",
                params,
                lambda r: spool_records(r, lambda rows: []),
                what="check (export API)",
                stream=True,
            )
            if body is not None:
                body.close()
        except ApiError as error:
            if error.key_refused:
                return False, (
                    "The API key works for Iterable's resource endpoints but was refused by the export API "
                    f"(HTTP {error.status}): the email_* and users streams (and every other channel's events) "
                    "need a Server-side key. Read-only, "
                    "mobile and JavaScript keys cannot export; create a Server-side key under Integrations > "
                    f"API Keys. Details: {error.message}"
                )
            return False, error.message
        return self._check_jobs(client, parsed)

    def _check_jobs(self, client: IterableClient, config: IterableConfig) -> tuple[bool, str | None]:
        if config.export_api == "sync":
            return True, "export path: data.json (export_api is 'sync')"
        try:
            client.request(JOBS_PATH, None, read_json, what="check (export jobs API)", max_attempts=2)
        except ApiError as error:
            if config.export_api == "async":
                return False, (
                    f"export_api is 'async' but Iterable refused the export jobs API for this key (HTTP "
                    f"{error.status}); set export_api to 'auto' or 'sync'. Details: {error.message}"
                )
            message = (
                f"export path: data.json only; Iterable refused the export jobs API for this key (HTTP "
                f"{error.status}), so backfills go at 4 requests a minute. Details: {error.message}"
            )
            LOGGER.warning(message)
            return True, message
        message = "export path: export jobs for backfills and catch-ups, data.json for a single recent window"
        if config.export_api == "async":
            message = "export path: export jobs (export_api is 'async')"
        LOGGER.info(message)
        return True, message

    def _check_project_type(self, config: IterableConfig) -> None:
        """A WARN when the project's field list contradicts ``project_type``; the check passes anyway."""
        lookup = fetch_user_fields(client_for(config), "check (project type)")
        if lookup.fields is None:
            LOGGER.info(f"project_type {config.project_type} not verified: {lookup.failure}")
            return
        warning = project_type_warning(config.project_type, lookup.fields)
        if warning is not None:
            LOGGER.warning(warning)

    # ------------------------------------------------------------------ read, in process

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | MutableMapping[str, Any] | None = None,
    ) -> Iterator[AirbyteMessage]:
        raw_catalog = ConfiguredAirbyteCatalogSerializer.dump(catalog)
        raw_state = (
            [AirbyteStateMessageSerializer.dump(s) for s in state] if isinstance(state, list) else state
        )
        out = io.BytesIO()
        code = read_sync(config, raw_catalog, raw_state or None, out)
        failed = []
        for line in out.getvalue().splitlines():
            message = AirbyteMessageSerializer.load(orjson.loads(line))
            if message.type is Type.TRACE and message.trace is not None and message.trace.error is not None:
                descriptor = message.trace.error.stream_descriptor
                failed.append(descriptor.name if descriptor is not None else "the sync")
            yield message
        if code:
            raise AirbyteTracedException(
                message=f"During the sync, the following streams did not sync successfully: {', '.join(failed)}",
                failure_type=FailureType.config_error,
            )
