"""Bank files over HTTP: `POST /v1/feeds` (multipart upload, 202 with the feed id) and
`GET /v1/feeds` (each file's status and counts, with the Admin API list conventions).

The upload is read only once the token is checked, and streams to a temporary file: the body
limit (`api.body_limit`, `PAYRECON_MAX_UPLOAD_BYTES`) stops it at the limit with a 413.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.datastructures import UploadFile

from payrecon.api.auth import require
from payrecon.api.fields import RowId
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import ListQuery, list_endpoint, list_query, list_response
from payrecon.api.text_input import unstorable
from payrecon.domain.errors import InvalidInput
from payrecon.services.reconciliation.feeds import (
    FeedStatus,
    feed_status,
    list_feeds,
    receive_upload,
)

router = APIRouter(prefix="/v1", tags=["feeds"])


def feed_json(feed: FeedStatus) -> dict[str, Any]:
    return {
        "id": feed.id,
        "filename": feed.filename,
        "format": feed.format,
        "status": feed.status,
        "source": feed.source,
        "contractOwnerId": feed.contract_owner_id,
        "lineCount": feed.line_count,
        "newLineCount": feed.new_line_count,
        "error": feed.error,
        "receivedAt": feed.received_at,
        "processedAt": feed.processed_at,
    }


async def uploaded_file(request: Request) -> AsyncIterator[UploadFile]:
    """The `file` part of the multipart body, spooled to a temporary file as it streams in. A
    dependency rather than a `File()` parameter: FastAPI reads body parameters before it checks
    the token, a dependency after the route's `require` has."""
    async with request.form(max_files=1, max_fields=16) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidInput(
                "the upload needs a multipart/form-data body with a `file` part",
                details={"field": "file"},
            )
        if file.filename and unstorable(file.filename):
            raise InvalidInput("the file name holds a NUL character", details={"field": "file"})
        yield file


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The bank file (camt.05x, MT940/942, BAI2, OFX, CSV)",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/feeds",
    status_code=202,
    dependencies=[Depends(require("write"))],
    summary="Upload a bank statement file; it is ingested and reconciled asynchronously",
    openapi_extra=UPLOAD_BODY,
    responses={200: {"description": "The same content was received before (`duplicate: true`)"}},
)
def upload_feed(request: Request, file: Annotated[UploadFile, Depends(uploaded_file)]) -> Any:
    container = request.app.state.container
    received = receive_upload(
        container.engine,
        container.settings.feed_store_dir,
        file.file,
        file.filename or "upload",
        max_bytes=container.settings.max_upload_bytes,
    )
    if received.duplicate:
        body = {
            **feed_json(feed_status(container.engine, received.feed_file_id)),
            "duplicate": True,
        }
        return DecimalJSONResponse(body, status_code=200)
    # after the receiving transaction committed
    request.app.state.pipeline.files_received([received.feed_file_id])
    body = {**feed_json(feed_status(container.engine, received.feed_file_id)), "duplicate": False}
    return DecimalJSONResponse(body, status_code=202)


@list_endpoint(router, "/feeds", dependencies=[Depends(require("read"))], summary="Feed files")
def feeds(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    items, total = list_feeds(request.app.state.container.engine, q)
    return list_response([feed_json(f) for f in items], total, q, head=request.method == "HEAD")


@router.get("/feeds/{feed_id}", dependencies=[Depends(require("read"))], summary="One feed file")
def feed(
    request: Request, feed_id: Annotated[RowId, Path(description="Feed file identifier")]
) -> Any:
    return feed_json(feed_status(request.app.state.container.engine, feed_id))
