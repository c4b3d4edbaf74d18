"""An export job's files: each downloaded from its pre-signed URL (without the API key), spooled and
checked like a data.json body. A URL that answers 403 "Request has expired" is refreshed by listing its
page of files again; a file cut mid-body or holding a bad line is downloaded again (``FILE_ATTEMPTS``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import requests

from ..api.client import IterableClient
from ..api.errors import ApiError, ConnectorError
from ..api.spool import RecordFile
from ..lookback.window_filter import Spool
from .job_states import FileRef, FilesPage

LOGGER = logging.getLogger("airbyte")
FILE_ATTEMPTS = 3
EXPIRED = "Request has expired"
# Lists the job's files after the named one (None: from the first): the page that holds a fresh URL.
Lister = Callable[[str | None], FilesPage]


def download(
    client: IterableClient,
    spool: Spool,
    job: int,
    ref: FileRef,
    before: str | None,
    relist: Lister,
    what: str,
) -> RecordFile:
    """File ``ref`` of ``job`` on disk through ``spool``, or an error naming the file and the job."""
    url = ref.url
    for attempt in range(1, FILE_ATTEMPTS + 1):
        try:
            body = client.request(
                "",
                None,
                spool,
                what=f"{what}, job {job}, file {ref.name}",
                url=url,
                stream=True,
                max_attempts=1,
                on_status=_expired,
            )
        except ApiError as error:
            if attempt == FILE_ATTEMPTS:
                raise ApiError(
                    f"{error.message} (file {ref.name} of export job {job}, {attempt} attempts)",
                    error.failure_type,
                    error.status,
                    error.transient,
                ) from None
            LOGGER.warning(f"{what}: file {ref.name} of job {job}: {error.message}; downloading it again")
            continue
        if isinstance(body, _Expired):
            LOGGER.info(f"{what}: the URL of file {ref.name} of job {job} expired; listing it again")
            url = _fresh_url(job, ref, relist(before), what)
            continue
        assert isinstance(body, RecordFile)
        return body
    raise ConnectorError(f"{what}: file {ref.name} of export job {job} could not be downloaded")


def _fresh_url(job: int, ref: FileRef, page: FilesPage, what: str) -> str:
    for listed in page.files:
        if listed.name == ref.name:
            return listed.url
    raise ConnectorError(f"{what}: file {ref.name} is no longer listed for export job {job}")


class _Expired:
    pass


def _expired(status: int, response: requests.Response) -> _Expired | None:
    if status == 403 and EXPIRED.encode() in response.content[:4000]:
        return _Expired()
    return None
