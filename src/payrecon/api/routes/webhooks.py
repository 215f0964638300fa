"""Provider webhooks: `POST /v1/webhooks/gocardless/{provider_id}` and
`POST /v1/webhooks/stripe/{provider_id}`. No bearer token: the provider's signature over the raw
body, checked with that provider's webhook secret, is the authentication.

    200  events stored (new ones are processed by a worker, enqueued after the commit)
    204  every event of the body is one payrecon ignores (stored all the same)
    404  no provider of that kind with that id
    422  a correctly signed body that is not the provider's event JSON
    498  GoCardless: `Webhook-Signature` does not match (GoCardless's "invalid token" status)
    400  Stripe: `Stripe-Signature` does not match, or its timestamp is more than 300 s from now
         (Stripe retries anything that is not 2xx; 400 is what its libraries answer)

A replayed delivery stores nothing new and enqueues nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response

from payrecon.api.errors import error_body, error_response
from payrecon.api.fields import RowId
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.feeds.webhooks import InvalidSignatureError
from payrecon.services.clock import utcnow
from payrecon.services.pipeline import Pipeline
from payrecon.services.providers.events import (
    WebhookReceipt,
    receive_gocardless_webhook,
    receive_stripe_webhook,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ProviderId = Annotated[RowId, Path(description="Payment provider identifier")]
GOCARDLESS_BAD_SIGNATURE = 498
STRIPE_BAD_SIGNATURE = 400


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature is over these bytes."""
    return await request.body()


def provider_events_enqueuer(request: Request) -> Callable[[int], None]:
    """How stored events reach a worker (a dependency, so tests can run them in-process)."""
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline.provider_events_received


Body = Annotated[bytes, Depends(raw_body)]
Enqueue = Annotated[Callable[[int], None], Depends(provider_events_enqueuer)]


@router.post(
    "/gocardless/{provider_id}",
    summary="Receive a GoCardless webhook (authenticated by Webhook-Signature)",
    responses={
        204: {"description": "every event ignored"},
        498: error_response("Webhook-Signature does not match"),
    },
)
def gocardless_webhook(
    request: Request,
    provider_id: ProviderId,
    body: Body,
    enqueue: Enqueue,
    webhook_signature: Annotated[str, Header(alias="Webhook-Signature")] = "",
) -> Response:
    container = request.app.state.container
    try:
        receipt = receive_gocardless_webhook(
            container.engine,
            provider_id,
            body,
            webhook_signature,
            now=utcnow(),
            credentials=container.credentials,
        )
    except InvalidSignatureError as exc:
        return _refused(exc, GOCARDLESS_BAD_SIGNATURE)
    return _answer(receipt, enqueue)


@router.post(
    "/stripe/{provider_id}",
    summary="Receive a Stripe webhook (authenticated by Stripe-Signature, 300 s tolerance)",
    responses={
        204: {"description": "the event is ignored"},
        400: error_response("Stripe-Signature does not match, or is stale; or a bad body"),
    },
)
def stripe_webhook(
    request: Request,
    provider_id: ProviderId,
    body: Body,
    enqueue: Enqueue,
    stripe_signature: Annotated[str, Header(alias="Stripe-Signature")] = "",
) -> Response:
    container = request.app.state.container
    try:
        receipt = receive_stripe_webhook(
            container.engine,
            provider_id,
            body,
            stripe_signature,
            now=utcnow(),
            credentials=container.credentials,
        )
    except InvalidSignatureError as exc:
        return _refused(exc, STRIPE_BAD_SIGNATURE)
    return _answer(receipt, enqueue)


def _refused(exc: InvalidSignatureError, status: int) -> Response:
    return DecimalJSONResponse(error_body(exc.code, exc.message, exc.details), status_code=status)


def _answer(receipt: WebhookReceipt, enqueue: Callable[[int], None]) -> Response:
    if receipt.new_to_process:
        enqueue(receipt.provider_id)  # the events are committed: a worker can see them
    if not receipt.to_process:
        return Response(status_code=204)
    body: dict[str, Any] = {"events": receipt.events, "new": receipt.new}
    return DecimalJSONResponse(body, status_code=200)
