"""`/v1/billing-cycles`: a contract owner's billing processes and their start days (seeds
002/003): list, get, create, RFC 6902 JSON Patch."""

from payrecon.api.admin_router import admin_router
from payrecon.services.admin.entities import BILLING_CYCLES

router = admin_router(
    BILLING_CYCLES, path="billing-cycles", singular="billing cycle", plural="billing cycles"
)
