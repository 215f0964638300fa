"""`/v1/contract-owners/{id}/tolerances`: the shortfalls an owner's bank lines may leave and
still settle their invoices (`writeOff`, `bankCharges`; both 0 = off). Set here, they win over
the rule files' for that owner from the next reconcile on. Read `read`, write `admin`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from payrecon.api.auth import Principal, caller, require
from payrecon.api.fields import Amount
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import ExactJSONRoute, operation_id
from payrecon.services.admin import tolerances

router = APIRouter(
    prefix="/v1",
    tags=["contract owners"],
    route_class=ExactJSONRoute,
    generate_unique_id_function=operation_id,
)
OwnerId = Annotated[int, Path(ge=1, description="Contract owner identifier")]


class TolerancesBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    write_off: Amount = Field(alias="writeOff", ge=0)
    bank_charges: Amount = Field(alias="bankCharges", ge=0)


@router.get(
    "/contract-owners/{contract_owner_id}/tolerances",
    dependencies=[Depends(require("read"))],
    summary="A contract owner's tolerances",
)
def get_owner_tolerances(request: Request, contract_owner_id: OwnerId) -> Any:
    return DecimalJSONResponse(
        tolerances.get_tolerances(request.app.state.container.engine, contract_owner_id)
    )


@router.put(
    "/contract-owners/{contract_owner_id}/tolerances",
    summary="Set a contract owner's tolerances (they win over the rule files')",
)
def put_owner_tolerances(
    request: Request,
    contract_owner_id: OwnerId,
    body: TolerancesBody,
    principal: Annotated[Principal, Depends(caller("admin"))],
) -> Any:
    return DecimalJSONResponse(
        tolerances.set_tolerances(
            request.app.state.container.engine,
            contract_owner_id,
            write_off=body.write_off,
            bank_charges=body.bank_charges,
            actor=principal.subject,
        )
    )
