"""The payrecon exception tree. Each is raised where it is defined; the API maps each to one code.

    PayreconError                     base; never raised itself
    ├── InvalidInput                  a caller's value is wrong (API 422, CLI exit 2)
    │   ├── InvalidAmount             not an exact, finite decimal; a float; a bad currency
    │   ├── CurrencyMismatch          money of two currencies combined without a rate
    │   ├── FeedFormatError           a bank or provider file is malformed (names file and place)
    │   └── RuleSetError              an allocation rule file is invalid (domain/rules.py)
    ├── NotFound                      the thing named does not exist (API 404)
    ├── Conflict                      the request contradicts the ledger's state (API 409)
    │   └── OverAllocation            an allocation would exceed a payment or an invoice
    └── NotAuthorised                 missing or insufficient credentials (API 401/403)

Matching problems (an unmatched or ambiguous line) are not exceptions: the matcher returns them as
data (see `payrecon.domain.matching`).
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
