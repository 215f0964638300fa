"""`/v1/contract-owners`: seed 003's contract owners (read, create, RFC 6902 JSON Patch); writes
need the `admin` scope, since an owner's bank account decides which statements are its."""

from payrecon.api.admin_router import admin_router
from payrecon.services.admin.entities import CONTRACT_OWNERS

router = admin_router(
    CONTRACT_OWNERS,
    path="contract-owners",
    singular="contract owner",
    plural="contract owners",
    write_scope="admin",
)
