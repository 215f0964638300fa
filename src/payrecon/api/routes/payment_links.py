"""`/v1/payment-provider-payment-links`: seed 000's PaymentProviderPaymentLink, a hyperlink that
lets a customer pay an invoice or towards their balance (list, get, create, JSON Patch)."""

from payrecon.api.admin_router import admin_router
from payrecon.services.admin.entities import PAYMENT_LINKS

router = admin_router(
    PAYMENT_LINKS,
    path="payment-provider-payment-links",
    singular="payment link",
    plural="payment links",
)
