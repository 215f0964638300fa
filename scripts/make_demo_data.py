"""Write the bundled demo data set (src/payrecon/demo_data/): customers, invoices, and a camt.053
and a CSV statement written for them. Deterministic: the same seed writes the same files.

    python scripts/make_demo_data.py [--seed 20261121]
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

OUT = Path(__file__).resolve().parents[1] / "src" / "payrecon" / "demo_data"
OWNER_ACCOUNTS = {1: "GB29NWBK60161331926819", 2: "GB94BARC10201530093459"}
SURNAMES = [
    "Bowman",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Schmidt",
    "Costa",
    "Novak",
    "Byrne",
    "Haddad",
    "Kowalski",
    "Fischer",
    "Ahmed",
    "Rossi",
    "Jensen",
    "Murphy",
]
KINDS = ["& Co", "Ltd", "Trading", "Partners", "Holdings", "Services", "Studio", "Logistics"]


def cents(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100


def iban_for(rng: random.Random) -> str:
    return (
        "GB"
        + f"{rng.randint(10, 99)}"
        + "NWBK"
        + "".join(str(rng.randint(0, 9)) for _ in range(14))
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20261121)
    rng = random.Random(parser.parse_args().seed)
    OUT.mkdir(parents=True, exist_ok=True)

    customers = []
    for n in range(1, 301):
        owner = 1 if n <= 220 else 2
        customers.append(
            {
                "customer_id": f"C{n:05d}",
                "name": f"{rng.choice(SURNAMES)} {rng.choice(KINDS)} {n}",
                "contract_owner_id": owner,
                "currency": "GBP",
                "credit_threshold": f"{rng.choice([500, 1000, 2500, 5000])}.00",
                "account_number": f"AC{n:06d}",
                "iban": iban_for(rng) if n % 3 else "",
                "mandate_id": f"MD{n:06d}" if n % 7 == 0 else "",
            }
        )
    invoices = []
    number = 1000
    start = date(2026, 8, 1)
    for c in customers:
        for _ in range(rng.choice([1, 1, 2, 2, 3])):
            number += 1
            issue = start + timedelta(days=rng.randint(0, 75))
            invoices.append(
                {
                    "invoice_id": f"I{number:07d}",
                    "invoice_number": f"INV-{number:06d}",
                    "customer_id": c["customer_id"],
                    "kind": "standard" if rng.random() < 0.9 else "adhoc",
                    "issue_date": issue.isoformat(),
                    "due_date": (issue + timedelta(days=30)).isoformat(),
                    "currency": "GBP",
                    "total": f"{cents(rng, 20, 900):.2f}",
                    "_owner": c["contract_owner_id"],
                    "_customer": c,
                }
            )

    with (OUT / "customers.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(customers[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(customers)
    with (OUT / "invoices.csv").open("w", newline="") as fh:
        fields = [k for k in invoices[0] if not k.startswith("_")]
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(invoices)

    shuffled = invoices[:]
    rng.shuffle(shuffled)
    camt_lines, csv_lines = [], []
    for i, inv in enumerate(shuffled[:420]):
        total = Decimal(inv["total"])
        style = rng.random()
        if style < 0.55:
            amount, text = total, f"Payment {inv['invoice_number']} thank you"
        elif style < 0.70:
            amount, text = (
                (total / 2).quantize(Decimal("0.01")),
                f"{inv['invoice_number']} part payment",
            )
        elif style < 0.78:
            amount, text = total + Decimal("25.00"), f"INVOICE {inv['invoice_number']}"
        elif style < 0.90:
            amount, text = total, f"{inv['_customer']['name']} monthly"  # no reference: review
        else:
            amount, text = total, f"REF {rng.randint(100000, 999999)}"  # a bare number: review
        booked = date(2026, 10, 15) + timedelta(days=rng.randint(0, 13))
        line = (booked, amount, text, inv["_customer"], f"BR{i:06d}")
        (camt_lines if inv["_owner"] == 1 else csv_lines).append(line)
    for j in range(6):  # a few bank charges and returns, which wait for review
        booked = date(2026, 10, 20) + timedelta(days=j)
        camt_lines.append((booked, -cents(rng, 5, 60), "BANK CHARGES", None, f"BD{j:06d}"))
    camt_lines.sort(key=lambda x: x[0])
    csv_lines.sort(key=lambda x: x[0])
    write_camt(OUT / "statement-2026-10.camt053.xml", camt_lines)
    write_csv(OUT / "statement-2026-10.csv", csv_lines)


def write_camt(path: Path, lines: list) -> None:
    opening = Decimal("10000.00")
    closing = opening + sum((amount for _, amount, *_ in lines), Decimal(0))
    first, last = lines[0][0], lines[-1][0]
    entries = []
    for booked, amount, text, customer, ref in lines:
        cd = "CRDT" if amount > 0 else "DBIT"
        party = ""
        if customer is not None:
            account = (
                f"<DbtrAcct><Id><IBAN>{customer['iban']}</IBAN></Id></DbtrAcct>"
                if customer["iban"]
                else ""
            )
            party = (
                f"<RltdPties><Dbtr><Nm>{escape(customer['name'])}</Nm></Dbtr>{account}</RltdPties>"
            )
        entries.append(f"""      <Ntry>
        <NtryRef>{ref}</NtryRef>
        <Amt Ccy="GBP">{abs(amount):.2f}</Amt>
        <CdtDbtInd>{cd}</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>{booked.isoformat()}</Dt></BookgDt>
        <ValDt><Dt>{booked.isoformat()}</Dt></ValDt>
        <AcctSvcrRef>{ref}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{"RCDT" if amount > 0 else "CCRD"}</Cd><SubFmlyCd>{"ESCT" if amount > 0 else "CHRG"}</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><AcctSvcrRef>{ref}</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
          <AmtDtls><TxAmt><Amt Ccy="GBP">{abs(amount):.2f}</Amt></TxAmt></AmtDtls>
          {party}
          <RmtInf><Ustrd>{escape(text)}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>""")
    body = "\n".join(entries)
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>PAYRECON-DEMO-2026-10</MsgId><CreDtTm>{last.isoformat()}T18:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>DEMO-STMT-2026-10</Id>
      <CreDtTm>{last.isoformat()}T18:00:00</CreDtTm>
      <FrToDt><FrDtTm>{first.isoformat()}T00:00:00</FrDtTm><ToDtTm>{last.isoformat()}T23:59:59</ToDtTm></FrToDt>
      <Acct><Id><IBAN>{OWNER_ACCOUNTS[1]}</IBAN></Id><Ccy>GBP</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">{opening:.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{first.isoformat()}</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">{closing:.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{last.isoformat()}</Dt></Dt></Bal>
{body}
    </Stmt>
  </BkToCstmrStmt>
</Document>
""",
        encoding="utf-8",
    )


def write_csv(path: Path, lines: list) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            [
                "date",
                "amount",
                "currency",
                "reference",
                "counterparty_name",
                "counterparty_account",
                "remittance",
                "account",
            ]
        )
        for booked, amount, text, customer, ref in lines:
            w.writerow(
                [
                    booked.isoformat(),
                    f"{amount:.2f}",
                    "GBP",
                    ref,
                    customer["name"] if customer else "",
                    customer["iban"] if customer else "",
                    text,
                    OWNER_ACCOUNTS[2],
                ]
            )


if __name__ == "__main__":
    main()
