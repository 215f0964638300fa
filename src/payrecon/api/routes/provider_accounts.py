"""`/v1/payment-providers/{id}/accounts`: the open-banking accounts a provider polls. Registering
one (scope `admin`) makes the next `poll_provider` read its transactions (as statement lines)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from payrecon.api.auth import require
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import ExactJSONRoute, operation_id
from payrecon.services.providers.openbanking import (
    list_openbanking_accounts,
    register_openbanking_account,
)

router = APIRouter(
    prefix="/v1",
    tags=["payment providers"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
ProviderId = Annotated[int, Path(ge=1, description="Payment provider identifier")]


class AccountBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    account_id: str = Field(alias="accountId", min_length=1, max_length=128, pattern=r"^\S+$")


@router.get(
    "/payment-providers/{payment_provider_id}/accounts",
    dependencies=[Depends(require("read"))],
    summary="The open-banking accounts a provider polls",
)
def list_provider_accounts(request: Request, payment_provider_id: ProviderId) -> Any:
    accounts = list_openbanking_accounts(request.app.state.container.engine, payment_provider_id)
    return DecimalJSONResponse(accounts, headers={"X-Total-Count": str(len(accounts))})


@router.post(
    "/payment-providers/{payment_provider_id}/accounts",
    status_code=201,
    dependencies=[Depends(require("admin"))],
    summary="Register an open-banking account to poll",
)
def add_provider_account(
    request: Request, payment_provider_id: ProviderId, body: AccountBody
) -> Any:
    engine = request.app.state.container.engine
    created = register_openbanking_account(engine, payment_provider_id, body.account_id)
    found = [
        a
        for a in list_openbanking_accounts(engine, payment_provider_id)
        if a["accountId"] == body.account_id
    ]
    return DecimalJSONResponse(
        {**found[0], "created": created}, status_code=201 if created else 200
    )
