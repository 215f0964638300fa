"""The payrecon exception tree. Each class is defined where it is raised (the module is named
beside it; `reconciliation.x` is `services.reconciliation.x`); the API maps each to one error
code, the CLI to an exit code.

    PayreconError                        base; never raised itself
    ├── InvalidInput                     a caller's value is wrong (API 422, CLI exit 1)
    │   ├── InvalidAmount                not an exact, finite decimal; a float; a bad currency
    │   ├── CurrencyMismatch             money of two currencies combined without a rate
    │   ├── RuleSetError                 an allocation rule file is invalid (domain.matching.rules)
    │   ├── UploadTooLarge               a statement upload over the limit (reconciliation.feeds)
    │   └── FeedFormatError              a bank or provider file is malformed (names file and place)
    │       ├── UnknownAccount           an account no owner has (reconciliation.ingest)
    │       ├── ProviderResponseError    a provider answered what its API does not (feeds.http)
    │       └── WebhookPayloadError      a signed body not in the provider's shape (feeds.webhooks)
    ├── NotFound                         the thing named does not exist (API 404)
    ├── Conflict                         the request contradicts the ledger's state (API 409)
    │   ├── OverAllocation               an allocation would exceed a payment or an invoice
    │   └── PatchTestFailed              a JSON Patch `test` failed (services.admin.json_patch)
    ├── NotAuthorised                    missing or insufficient credentials (API 401/403)
    │   └── InvalidSignatureError        a webhook signature does not verify (feeds.webhooks)
    │       └── ExpiredSignatureError    ... or is too old to accept
    └── ProviderError                    a payment provider failed a request (feeds.http)
        ├── ProviderUnavailableError     transient: 5xx, timeouts; the task retries later
        │   └── ProviderRateLimitedError 429 beyond the retry budget
        └── ProviderRejectedError        4xx: a bad token, an unknown id

Problems with an allocation or a line (unmatched, ambiguous, over-allocation refused) are not
exceptions: the matcher and the ledger's check return them as data (`domain.allocation.Problem`);
`raise_for_problems` turns those a write cannot stand into one of the classes above.
"""

from __future__ import annotations


class PayreconError(Exception):
    """Base of every error payrecon raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(PayreconError):
    code = "invalid_input"


class InvalidAmount(InvalidInput):
    code = "invalid_amount"


class CurrencyMismatch(InvalidInput):
    code = "currency_mismatch"


class FeedFormatError(InvalidInput):
    """A feed file cannot be read or fails its own checks. `place` is a line, element or record."""

    code = "feed_format"

    def __init__(self, file: str, place: str, problem: str) -> None:
        super().__init__(f"{file}: {place}: {problem}", details={"file": file, "place": place})
        self.file = file
        self.place = place
        self.problem = problem


class NotFound(PayreconError):
    code = "not_found"


class Conflict(PayreconError):
    code = "conflict"


class OverAllocation(Conflict):
    code = "over_allocation"


class NotAuthorised(PayreconError):
    code = "not_authorised"
