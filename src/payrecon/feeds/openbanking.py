"""Open-banking account transactions in the GoCardless Bank Account Data shape, as statement lines.

`GET /api/v2/accounts/{id}/transactions/?date_from=&date_to=` answers
`{"transactions": {"booked": [...], "pending": [...]}}`; amounts are decimal strings, signed (a
debit is negative). The endpoint is not paginated, so `statement_line_pages` walks a date range in
windows instead: it starts `overlap_days` before the last date polled (banks book late and revise
the latest days), yields one `Page` per window whose `next_cursor` is the window's last date (store
it, pass it back as `since`), and drops transactions whose dedupe id it has already seen in this run
or that the caller lists in `known_ids`. Pending transactions are never lines: their ids change when
they book. The statement line's account is the open-banking account id.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import date, timedelta

import httpx
from pydantic import SecretStr

from payrecon.domain.lines import StatementLine
from payrecon.domain.providers import OpenBankingTransaction
from payrecon.feeds.http import (
    Fields,
    Page,
    ProviderHTTP,
    ProviderResponseError,
    RetryPolicy,
    body_fields,
    path_segment,
)

OPENBANKING_URL = "https://bankaccountdata.gocardless.com"
DEFAULT_OVERLAP_DAYS = 3
DEFAULT_WINDOW_DAYS = 30
DEFAULT_INITIAL_DAYS = 90  # how far back the first poll of an account reaches


def map_transaction(f: Fields, *, account_id: str, booked: bool) -> OpenBankingTransaction:
    amount = f.obj("transactionAmount")
    debtor, creditor = f.obj("debtorAccount"), f.obj("creditorAccount")
    remittance = f.opt_text("remittanceInformationUnstructured")
    if remittance is None:
        lines = f.raw("remittanceInformationUnstructuredArray")
        if isinstance(lines, list) and all(isinstance(x, str) for x in lines) and lines:
            remittance = " ".join(lines)
    booking_date, value_date = f.opt_date("bookingDate"), f.opt_date("valueDate")
    if booked and booking_date is None and value_date is None:
        raise ProviderResponseError(f.source, f.place, "booked transaction without a date")
    return OpenBankingTransaction(
        account_id=account_id,
        booked=booked,
        amount=amount.decimal("amount"),
        currency=amount.text("currency").upper(),
        booking_date=booking_date,
        value_date=value_date,
        transaction_id=f.opt_text("transactionId"),
        internal_transaction_id=f.opt_text("internalTransactionId"),
        debtor_name=f.opt_text("debtorName"),
        debtor_iban=debtor.opt_text("iban") or debtor.opt_text("bban"),
        creditor_name=f.opt_text("creditorName"),
        creditor_iban=creditor.opt_text("iban") or creditor.opt_text("bban"),
        remittance=remittance,
        structured_reference=f.opt_text("remittanceInformationStructured"),
        end_to_end_id=f.opt_text("endToEndId"),
        mandate_id=f.opt_text("mandateId"),
        bank_transaction_code=f.opt_text("bankTransactionCode")
        or f.opt_text("proprietaryBankTransactionCode"),
    )


class OpenBankingClient:
    """Read-only Bank Account Data client over an injected `httpx.Client`. The access token is the
    short-lived one the token endpoint issues; obtaining and refreshing it is the caller's job."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        access_token: str | SecretStr,
        base_url: str = OPENBANKING_URL,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.http = ProviderHTTP(
            client, provider="openbanking", base_url=base_url, token=access_token, policy=policy
        )

    def __repr__(self) -> str:
        return f"OpenBankingClient(base_url={self.http.base_url!r})"

    def transactions(
        self, account_id: str, *, date_from: date, date_to: date
    ) -> tuple[list[OpenBankingTransaction], list[OpenBankingTransaction]]:
        """The booked and the pending transactions of `account_id` in [date_from, date_to]."""
        path = f"/api/v2/accounts/{path_segment(account_id)}/transactions/"
        query = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
        body = body_fields(self.http.get_json(path, query), f"openbanking GET {path}")
        groups = body.obj("transactions")
        booked = [
            map_transaction(item, account_id=account_id, booked=True)
            for item in groups.items("booked")
        ]
        pending = (
            [
                map_transaction(item, account_id=account_id, booked=False)
                for item in groups.items("pending")
            ]
            if groups.has("pending")
            else []
        )
        return booked, pending

    def statement_line_pages(
        self,
        account_id: str,
        *,
        until: date,
        since: date | None = None,
        overlap_days: int = DEFAULT_OVERLAP_DAYS,
        window_days: int = DEFAULT_WINDOW_DAYS,
        initial_days: int = DEFAULT_INITIAL_DAYS,
        known_ids: Collection[str] = (),
    ) -> Iterator[Page[StatementLine]]:
        """Booked transactions from (`since` - overlap) or (`until` - initial_days) to `until`.

        `until` is the caller's as-of date (no clock is read here). Each page's `next_cursor` is the
        ISO date its window ends on, which is the `since` of the next poll.
        """
        if overlap_days < 0 or window_days < 1 or initial_days < 0:
            raise ValueError("overlap_days, initial_days must be >= 0 and window_days >= 1")
        start = (
            since - timedelta(days=overlap_days)
            if since is not None
            else until - timedelta(days=initial_days)
        )
        seen: set[str] = set()
        for window_start, window_end in date_windows(start, until, window_days):
            booked, _pending = self.transactions(
                account_id, date_from=window_start, date_to=window_end
            )
            lines: list[StatementLine] = []
            for transaction in booked:
                key = transaction.dedupe_id
                if key in seen or key in known_ids:
                    continue
                seen.add(key)
                lines.append(transaction.to_statement_line())
            yield Page(tuple(lines), window_end.isoformat())


def date_windows(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    """Consecutive inclusive windows of at most `days` days covering [start, end]."""
    current = start
    while current <= end:
        last = min(end, current + timedelta(days=days - 1))
        yield current, last
        current = last + timedelta(days=1)
