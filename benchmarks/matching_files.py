"""Writers for the matching benchmark's data set: the import CSVs of DESIGN.md, a camt.053
statement and an MT940 statement whose balances agree with their lines (so the parsers verify
them), and the truth as JSON lines."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"
OPENING = Decimal("1000000.00")


@dataclass
class Customer:
    external_id: str
    name: str
    owner: int
    currency: str
    account_number: str
    ibans: list[str]
    mandate: str | None


@dataclass
class Invoice:
    external_id: str
    number: str
    customer: Customer
    issue: date
    due: date
    total: Decimal
    open: Decimal = Decimal(0)


@dataclass
class Line:
    """One bank line and what it truly means."""

    external_id: str
    day: date
    amount: Decimal  # signed: credit positive
    currency: str
    scenario: str
    expected_rule: str | None  # the rule that should allocate it; None: nothing should
    name: str | None = None
    payer_account: str | None = None
    remittance: str | None = None
    structured: str | None = None
    e2e: str | None = None
    mandate: str | None = None
    bank_code: str = "PMNT/RCDT/ESCT"
    return_reason: str | None = None
    customer: str | None = None  # external id of the customer who truly paid
    allocations: list[tuple[str, Decimal]] = field(default_factory=list)
    reverses: str | None = None  # external id of the credit this debit undoes
    payout: str | None = None  # external id of the provider payout this credit settles


def write_owners(path: Path, owners: Iterable[tuple[int, str, str, str | None]]) -> None:
    """(id, name, bank IBAN, invoice number format) per contract owner."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["contract_owner_id", "name", "bank_iban", "invoice_number_format"])
        for owner_id, name, iban, number_format in owners:
            out.writerow([owner_id, name, iban, number_format or ""])


def write_customers(path: Path, customers: Iterable[Customer]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(
            [
                "customer_id",
                "name",
                "contract_owner_id",
                "currency",
                "credit_threshold",
                "account_number",
                "iban",
                "mandate_id",
            ]
        )
        for c in customers:
            out.writerow(
                [
                    c.external_id,
                    c.name,
                    c.owner,
                    c.currency,
                    "500.00",
                    c.account_number,
                    ";".join(c.ibans),
                    c.mandate or "",
                ]
            )


def write_invoices(path: Path, invoices: Iterable[Invoice]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(
            [
                "invoice_id",
                "invoice_number",
                "customer_id",
                "kind",
                "issue_date",
                "due_date",
                "currency",
                "total",
            ]
        )
        for i in invoices:
            out.writerow(
                [
                    i.external_id,
                    i.number,
                    i.customer.external_id,
                    "standard",
                    i.issue.isoformat(),
                    i.due.isoformat(),
                    i.customer.currency,
                    f"{i.total:f}",
                ]
            )


def write_truth(path: Path, lines: Iterable[Line]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for line in lines:
            record = {
                "external_id": line.external_id,
                "scenario": line.scenario,
                "expected_rule": line.expected_rule,
                "amount": f"{line.amount:f}",
                "customer": line.customer,
                "allocations": [[number, f"{amount:f}"] for number, amount in line.allocations],
                "reverses": line.reverses,
                "payout": line.payout,
            }
            handle.write(json.dumps(record) + "\n")


def _camt_balance(code: str, amount: Decimal, currency: str, day: date) -> str:
    mark = "CRDT" if amount >= 0 else "DBIT"
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="{currency}">{abs(amount):f}</Amt><CdtDbtInd>{mark}</CdtDbtInd>'
        f"<Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>\n"
    )


def _camt_entry(line: Line) -> str:
    credit = line.amount > 0
    party, account = ("Dbtr", "DbtrAcct") if credit else ("Cdtr", "CdtrAcct")
    domain, family, sub = line.bank_code.split("/")
    refs = f"<AcctSvcrRef>{line.external_id}</AcctSvcrRef>"
    if line.e2e:
        refs += f"<EndToEndId>{line.e2e}</EndToEndId>"
    if line.mandate:
        refs += f"<MndtId>{line.mandate}</MndtId>"
    parties = ""
    if line.name or line.payer_account:
        parties = "<RltdPties>"
        if line.name:
            parties += f"<{party}><Nm>{escape(line.name)}</Nm></{party}>"
        if line.payer_account:
            parties += f"<{account}><Id><IBAN>{line.payer_account}</IBAN></Id></{account}>"
        parties += "</RltdPties>"
    remittance = ""
    if line.remittance or line.structured:
        remittance = "<RmtInf>"
        if line.remittance:
            remittance += f"<Ustrd>{escape(line.remittance)}</Ustrd>"
        if line.structured:
            remittance += (
                f"<Strd><CdtrRefInf><Ref>{escape(line.structured)}</Ref></CdtrRefInf></Strd>"
            )
        remittance += "</RmtInf>"
    returned = ""
    if line.return_reason:
        returned = f"<RtrInf><Rsn><Cd>{line.return_reason}</Cd></Rsn></RtrInf>"
    day = line.day.isoformat()
    return (
        f'<Ntry><Amt Ccy="{line.currency}">{abs(line.amount):f}</Amt>'
        f"<CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd><Sts>BOOK</Sts>"
        f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
        f"<AcctSvcrRef>{line.external_id}</AcctSvcrRef>"
        f"<BkTxCd><Domn><Cd>{domain}</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>{sub}</SubFmlyCd>"
        "</Fmly></Domn></BkTxCd>"
        f"<NtryDtls><TxDtls><Refs>{refs}</Refs>{parties}{remittance}{returned}</TxDtls>"
        "</NtryDtls></Ntry>\n"
    )


def write_camt053(
    path: Path, statement_id: str, account: str, currency: str, lines: Sequence[Line]
) -> None:
    net = sum((line.amount for line in lines), Decimal(0))
    first, last = lines[0].day, lines[-1].day
    with path.open("w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}">')
        out.write("<BkToCstmrStmt>\n<GrpHdr><MsgId>")
        out.write(
            f"{statement_id}</MsgId><CreDtTm>{last.isoformat()}T23:00:00</CreDtTm></GrpHdr>\n"
        )
        out.write(f"<Stmt><Id>{statement_id}</Id>")
        out.write(f"<Acct><Id><IBAN>{account}</IBAN></Id><Ccy>{currency}</Ccy></Acct>\n")
        out.write(_camt_balance("OPBD", OPENING, currency, first))
        out.write(_camt_balance("CLBD", OPENING + net, currency, last))
        for line in lines:
            out.write(_camt_entry(line))
        out.write("</Stmt></BkToCstmrStmt></Document>\n")


def _swift_amount(amount: Decimal) -> str:
    return f"{abs(amount):.2f}".replace(".", ",")


def write_mt940(
    path: Path, statement_id: str, account: str, currency: str, lines: Sequence[Line]
) -> None:
    net = sum((line.amount for line in lines), Decimal(0))
    first, last = lines[0].day, lines[-1].day
    with path.open("w", encoding="utf-8") as out:
        out.write(f":20:{statement_id}\n:25:{account}\n:28C:1/1\n")
        out.write(f":60F:C{first:%y%m%d}{currency}{_swift_amount(OPENING)}\n")
        for line in lines:
            mark = "C" if line.amount > 0 else "D"
            out.write(
                f":61:{line.day:%y%m%d}{line.day:%m%d}{mark}{_swift_amount(line.amount)}"
                f"NTRFNONREF//{line.external_id}\n"
            )
            details = ""
            for tag, value in (
                ("EREF", line.e2e),
                ("MARF", line.mandate),
                ("RTRN", line.return_reason),
                ("NAME", line.name),
                ("IBAN", line.payer_account),
            ):
                if value:
                    details += f"/{tag}/{value}"
            text = " ".join(t for t in (line.structured, line.remittance) if t)
            out.write(f":86:{details}/REMI/{text}\n")
        out.write(f":62F:C{last:%y%m%d}{currency}{_swift_amount(OPENING + net)}\n-\n")


# German GVC codes (DK "Technische Anlage 3") for the bank transaction families of the data set.
_GVC = {
    "RCDT": ("166", "GUTSCHR. UEBERWEISUNG"),
    "RDDT": ("105", "SEPA-BASISLASTSCHRIFT"),
    "ICDT": ("116", "SEPA-UEBERWEISUNG"),
    "CCRD": ("106", "KARTENZAHLUNG"),
}
_SLICE = 27
_LINE = 65


def _slices(text: str, style: int) -> list[str]:
    """Cut into the 27-character slices of ?20..?29/?60..?63 by width, as banks do; style 2
    banks then trim each slice, losing the spaces at the cuts."""
    pieces = [text[i : i + _SLICE] for i in range(0, len(text), _SLICE)]
    return [p.strip() for p in pieces if p.strip()] if style == 2 else pieces


def gvc_details(line: Line, style: int, prima_nota: str = "931") -> str:
    """The `:86:` content of a German bank for `line`: GVC code, ?00 posting text, the SEPA
    keywords in ?20..?29 and ?60..?63, ?31 IBAN, ?32/?33 name. Banks differ, so four styles:
    0 each keyword starts a new slice; 1 the keywords run on in one text cut every 27
    characters (a cut may fall inside an invoice number); 2 as 1, each slice trimmed; 3 as 1
    (its physical lines are trimmed, see `_wrap`)."""
    family = line.bank_code.split("/")[1]
    code, posting = _GVC.get(family, ("166", "GUTSCHRIFT"))
    if line.return_reason:
        code, posting = "109", "RUECKLASTSCHRIFT"
    text = " ".join(t for t in (line.structured, line.remittance) if t)
    keyed = [
        f"{k}+{v}" for k, v in (("EREF", line.e2e), ("MREF", line.mandate), ("SVWZ", text)) if v
    ]
    if style == 0:
        purpose = [piece for value in keyed for piece in _slices(value, style)]
    else:
        purpose = _slices(" ".join(keyed), style)
    numbers = [*range(20, 30), *range(60, 64)]
    out = f"{code}?00{posting}?10{prima_nota}"
    out += "".join(f"?{n}{piece}" for n, piece in zip(numbers, purpose, strict=False))
    if line.payer_account:
        out += f"?30COBADEFFXXX?31{line.payer_account}"
    if line.name:
        names = zip((32, 33), _slices(line.name, style), strict=False)
        out += "".join(f"?{n}{piece}" for n, piece in names)
    if line.return_reason:
        out += f"?34{line.return_reason}"
    return out


def _wrap(text: str, style: int) -> list[str]:
    """Physical lines of at most 65 characters (style 2 counts the `:86:` tag in the first);
    SWIFT lets no line start with ':' or '-'; style 3 banks trim the end of each line."""
    lines: list[str] = []
    while text:
        width = _LINE - 4 if style == 2 and not lines else _LINE
        cut = min(width, len(text))
        while cut < len(text) and text[cut] in ":-" and cut > 1:
            cut -= 1
        lines.append(text[:cut].rstrip() if style == 3 else text[:cut])
        text = text[cut:]
    return lines


def write_mt940_gvc(
    path: Path, statement_id: str, account: str, currency: str, lines: Sequence[Line]
) -> None:
    """The statement as a German bank writes MT940: structured `:86:` wrapped at 65 characters."""
    net = sum((line.amount for line in lines), Decimal(0))
    first, last = lines[0].day, lines[-1].day
    with path.open("w", encoding="utf-8") as out:
        out.write(f":20:{statement_id}\n:25:{account}\n:28C:1/1\n")
        out.write(f":60F:C{first:%y%m%d}{currency}{_swift_amount(OPENING)}\n")
        for n, line in enumerate(lines):
            mark = "C" if line.amount > 0 else "D"
            out.write(
                f":61:{line.day:%y%m%d}{line.day:%m%d}{mark}{_swift_amount(line.amount)}"
                f"NTRFNONREF//{line.external_id}\n"
            )
            # The bank's batch number (Primanota) varies in length, and so do the wrap points.
            prima_nota = str(9301 + 7 * n)[: 3 + n % 3]
            wrapped = _wrap(gvc_details(line, n % 4, prima_nota), n % 4)
            out.write(":86:" + "\n".join(wrapped) + "\n")
        out.write(f":62F:C{last:%y%m%d}{currency}{_swift_amount(OPENING + net)}\n-\n")
