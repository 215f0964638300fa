"""`/v1/site-payment-mandates`: seed 000's SitePaymentMandate, a provider's authority to take
direct debits from a customer's account (list, get, create, RFC 6902 JSON Patch)."""

from payrecon.api.admin_router import admin_router
from payrecon.services.admin.entities import SITE_PAYMENT_MANDATES

router = admin_router(
    SITE_PAYMENT_MANDATES,
    path="site-payment-mandates",
    singular="site payment mandate",
    plural="site payment mandates",
)
