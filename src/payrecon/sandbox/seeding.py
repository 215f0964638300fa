"""The sandbox world for a seed (a development tool): GoCardless, Stripe and bank-account data."""

from __future__ import annotations

import random

from payrecon.sandbox.records import Ids, JsonObject, SandboxData
from payrecon.sandbox.seed_bank import seed_bank
from payrecon.sandbox.seed_gocardless import seed_gocardless
from payrecon.sandbox.seed_stripe import seed_stripe


def generate(seed: int, *, customers: int = 25, payments_per_customer: int = 4) -> SandboxData:
    """`customers` GoCardless customers with one mandate and `payments_per_customer` payments each;
    as many Stripe customers with half as many charges each; the bank accounts the payouts reach.
    The same arguments always give the same objects, ids and amounts."""
    if customers < 1 or payments_per_customer < 1:
        raise ValueError("customers and payments_per_customer must be >= 1")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    ids = Ids(rng)
    data = SandboxData(seed=seed)
    credits: list[JsonObject] = []
    seed_gocardless(data, rng, ids, customers, payments_per_customer, credits)
    seed_stripe(data, rng, ids, customers, max(1, payments_per_customer // 2), credits)
    seed_bank(data, rng, ids, customers, credits)
    return data
