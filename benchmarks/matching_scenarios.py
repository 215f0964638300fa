"""The scenarios of the matching benchmark: each writes one line and what it truly means.

Reference payments in many spellings, amounts without references (one invoice, a unique
combination, on account), direct debits, account numbers in the text; the traps (bare order
numbers, account numbers that are also invoice numbers, shared names and accounts, references to
unknown or settled invoices, typos); and debits that undo earlier payments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from benchmarks.matching_files import Customer, Invoice, Line
from benchmarks.matching_payouts import PayoutScenarios
from benchmarks.matching_world import DAYS, OWNERS, START, THANKS, Owner, _money

from payrecon.domain.matching.references import creditor_reference

SCENARIOS: dict[str, float] = {
    "ref_exact": 0.16,
    "ref_variant": 0.10,
    "ref_multi": 0.04,
    "creditor_ref": 0.05,
    "ref_partial": 0.04,
    "ref_over": 0.03,
    "exact_amount": 0.11,
    "combination": 0.06,
    "fifo": 0.05,
    "mandate": 0.07,
    "account_in_text": 0.04,
    "unknown_ref_known_account": 0.02,
    "ref_typo_other": 0.01,
    "new_account": 0.01,
    "account_number_trap": 0.02,
    "duplicate_payment": 0.01,
    "shared_account": 0.01,
    "unknown_payer": 0.04,
    "order_number_trap": 0.02,
    "shared_name": 0.02,
    "dd_return": 0.03,
    "refund": 0.02,
    "chargeback": 0.01,
    "supplier_debit": 0.02,
    "payout_reference": 0.010,  # benchmarks.matching_payouts
    "payout_amount": 0.004,
    "payout_mismatch": 0.002,
}


class Generator(PayoutScenarios):
    def generate(self) -> None:
        names, weights = zip(*SCENARIOS.items(), strict=True)
        for n in range(self.target):
            day = START + timedelta(days=n * DAYS // self.target)
            while True:
                scenario = self.rng.choices(names, weights)[0]
                made = getattr(self, scenario)(day)
                if made is not None:
                    self.lines.append(made)
                    if (
                        made.amount > 0
                        and made.customer
                        and made.customer not in self.retired
                        and made.scenario != "duplicate_payment"
                    ):
                        self.credits.append(made)
                        self.credit_by_id.setdefault(made.external_id, made)
                    break

    def _with_open(self, extra: Callable[[Customer], bool] = lambda c: True) -> Customer | None:
        return self.pick(lambda c: bool(self.open_invoices(c)) and extra(c))

    def _reference_line(
        self,
        day: date,
        scenario: str,
        rule: str,
        text: Callable[[Invoice, Owner], str],
        amount: Callable[[Invoice], Decimal],
    ) -> Line | None:
        customer = self._with_open()
        if customer is None:
            return None
        owner = self.owner_of[customer.external_id]
        invoice = self.rng.choice(self.open_invoices(customer))
        line = self.line(day, customer, amount(invoice), scenario, rule, owner)
        line.remittance = text(invoice, owner)
        line.payer_account = (
            self.known_account(customer) if self.rng.random() < 0.7 else self.stranger_account()
        )
        self.pay(line, [invoice])
        return line

    def ref_exact(self, day: date) -> Line | None:
        texts = ["{n}", "Payment {n}", "{n} thank you", "Invoice {n}"]
        return self._reference_line(
            day,
            "ref_exact",
            "invoice_reference_exact",
            lambda i, o: self.rng.choice(texts).format(n=i.number),
            lambda i: i.open,
        )

    def ref_variant(self, day: date) -> Line | None:
        def text(invoice: Invoice, owner: Owner) -> str:
            letters, digits = owner.prefix.rstrip("-"), invoice.number[len(owner.prefix) :]
            short = str(int(digits))
            return self.rng.choice(
                [
                    f"{letters.lower()} {short}",
                    f"{letters}{digits}",
                    f"Invoice no. {short}",
                    invoice.number.lower(),
                    f"{letters} {digits} payment",
                    f"{letters}/{short}",
                ]
            )

        return self._reference_line(day, "ref_variant", "invoice_reference", text, lambda i: i.open)

    def creditor_ref(self, day: date) -> Line | None:
        line = self._reference_line(
            day, "creditor_ref", "creditor_reference", lambda i, o: "", lambda i: i.open
        )
        if line is None:
            return None
        number = line.allocations[0][0]
        reference = creditor_reference(number.replace("-", ""))
        if self.owner_of[line.customer or ""].file_format == "camt053":
            line.structured, line.remittance = reference, None
        else:  # printed in groups of four, as on a paper slip
            line.remittance = " ".join(reference[k : k + 4] for k in range(0, len(reference), 4))
        return line

    def ref_partial(self, day: date) -> Line | None:
        return self._reference_line(
            day,
            "ref_partial",
            "invoice_reference_exact",
            lambda i, o: f"{i.number} part payment",
            lambda i: max(
                Decimal("0.01"), (i.open * self.rng.randint(20, 80) / 100).quantize(Decimal("0.01"))
            ),
        )

    def ref_over(self, day: date) -> Line | None:
        return self._reference_line(
            day,
            "ref_over",
            "invoice_reference_exact",
            lambda i, o: f"{i.number}",
            lambda i: i.open + _money(self.rng.randint(100, 5000)),
        )

    def ref_multi(self, day: date) -> Line | None:
        customer = self._with_open(lambda c: len(self.open_invoices(c)) >= 2)
        if customer is None:
            return None
        owner = self.owner_of[customer.external_id]
        chosen = self.rng.sample(
            self.open_invoices(customer),
            self.rng.randint(2, min(3, len(self.open_invoices(customer)))),
        )
        amount = sum((i.open for i in chosen), Decimal(0))
        if self.rng.random() < 0.3:
            amount -= min(amount - Decimal("0.01"), _money(self.rng.randint(100, 2000)))
        line = self.line(day, customer, amount, "ref_multi", "invoice_reference_exact", owner)
        line.remittance = "Invoices " + ", ".join(i.number for i in chosen)
        line.payer_account = self.known_account(customer)
        self.pay(line, chosen)
        return line

    def _amount_line(
        self,
        day: date,
        scenario: str,
        rule: str,
        customer: Customer,
        invoices: list[Invoice],
        amount: Decimal,
    ) -> Line:
        owner = self.owner_of[customer.external_id]
        line = self.line(day, customer, amount, scenario, rule, owner)
        line.remittance = self.rng.choice(THANKS) or None
        line.payer_account = self.known_account(customer)
        self.pay(line, invoices)
        return line

    def exact_amount(self, day: date) -> Line | None:
        customer = self._with_open(lambda c: self.known_account(c) is not None)
        if customer is None:
            return None
        invoice = self.rng.choice(self.open_invoices(customer))
        if not self.unique_amount(customer, invoice):
            return None
        return self._amount_line(
            day, "exact_amount", "exact_amount", customer, [invoice], invoice.open
        )

    def combination(self, day: date) -> Line | None:
        customer = self._with_open(
            lambda c: self.known_account(c) is not None and len(self.open_invoices(c)) >= 3
        )
        if customer is None:
            return None
        chosen = self.rng.sample(
            self.open_invoices(customer),
            self.rng.randint(2, min(4, len(self.open_invoices(customer)) - 1)),
        )
        amount = sum((i.open for i in chosen), Decimal(0))
        if self.sums_to(customer, amount) != 1:  # another set fits too: no one could tell
            return None
        return self._amount_line(
            day, "combination", "invoice_combination", customer, chosen, amount
        )

    def fifo(self, day: date) -> Line | None:
        customer = self._with_open(lambda c: self.known_account(c) is not None)
        if customer is None:
            return None
        opened = self.open_invoices(customer)
        amount = sum((i.open for i in opened[:1]), Decimal(0)) + _money(self.rng.randint(1, 9999))
        if self.sums_to(customer, amount):  # an amount rule would rightly take it first
            return None
        line = self._amount_line(day, "fifo", "oldest_due_first", customer, opened, amount)
        line.remittance = "on account"
        return line

    def mandate(self, day: date) -> Line | None:
        customer = self._with_open(lambda c: c.mandate is not None)
        if customer is None:
            return None
        invoice = self.open_invoices(customer)[0]
        if not self.unique_amount(customer, invoice):
            return None
        owner = self.owner_of[customer.external_id]
        line = self.line(day, customer, invoice.open, "mandate", "exact_amount", owner)
        line.mandate, line.bank_code = customer.mandate, "PMNT/RDDT/ESDD"
        line.remittance = "Direct debit collection"
        self.pay(line, [invoice])
        return line

    def account_in_text(self, day: date) -> Line | None:
        customer = self._with_open(lambda c: c.account_number.startswith("AC"))
        if customer is None:
            return None
        invoice = self.rng.choice(self.open_invoices(customer))
        if not self.unique_amount(customer, invoice):
            return None
        line = self._amount_line(
            day, "account_in_text", "exact_amount", customer, [invoice], invoice.open
        )
        line.payer_account = self.stranger_account()
        line.remittance = f"Customer {customer.account_number} payment"
        return line

    def unknown_ref_known_account(self, day: date) -> Line | None:
        line = self.exact_amount(day)
        if line is None:
            return None
        owner = self.owner_of[line.customer or ""]
        line.scenario = "unknown_ref_known_account"
        line.remittance = f"{owner.prefix}{10**owner.width - self.rng.randint(1, 99)}"
        return line

    def ref_typo_other(self, day: date) -> Line | None:
        """A typo in the reference names another customer's invoice; the payer's account says
        who paid. A person sorts it out; the engine must not pay the other customer."""
        line = self.exact_amount(day)
        if line is None:
            return None
        owner = self.owner_of[line.customer or ""]
        number = int(line.allocations[0][0][len(owner.prefix) :])
        typo = f"{owner.prefix}{number + self.rng.choice((-1, 1)):0{owner.width}d}"
        other = self.by_number.get(typo)
        if other is None or other.customer.external_id == line.customer:
            self._undo_truth(line)
            return None
        line.scenario, line.remittance = "ref_typo_other", typo
        self.retire(line.customer)
        return line

    def new_account(self, day: date) -> Line | None:
        """A customer pays from an account we do not know yet, without a reference: only a
        person (helped by the payer-name suggestion) can match it."""
        line = self.exact_amount(day)
        if line is None:
            return None
        line.scenario, line.payer_account = "new_account", self.stranger_account()
        self.retire(line.customer)
        return line

    def account_number_trap(self, day: date) -> Line | None:
        customer = self._with_open(lambda c: c.account_number.isdigit())
        if customer is None:
            return None
        invoice = self.rng.choice(self.open_invoices(customer))
        if not self.unique_amount(customer, invoice):
            return None
        line = self._amount_line(
            day, "account_number_trap", "exact_amount", customer, [invoice], invoice.open
        )
        line.payer_account = self.stranger_account()
        line.remittance = f"Acct {customer.account_number}"  # also the digits of someone's invoice
        return line

    def duplicate_payment(self, day: date) -> Line | None:
        customer = self.pick(
            lambda c: (
                any(i.open == 0 for i in self.by_customer[c.external_id])
                and self.known_account(c) is not None
            )
        )
        if customer is None:
            return None
        settled = next(i for i in self.by_customer[customer.external_id] if i.open == 0)
        owner = self.owner_of[customer.external_id]
        line = self.line(day, customer, settled.total, "duplicate_payment", None, owner)
        line.remittance, line.payer_account = settled.number, self.known_account(customer)
        return line  # the money stays unused: nothing allocated

    def _stranger(
        self, day: date, scenario: str, name: str, text: str | None, owner: Owner | None = None
    ) -> Line:
        owner = owner or self.rng.choice(OWNERS)
        line = self.line(day, None, _money(self.rng.randint(500, 90000)), scenario, None, owner)
        line.name, line.payer_account, line.remittance = name, self.stranger_account(), text
        return line

    def shared_account(self, day: date) -> Line | None:
        shared = self._shared_accounts
        if not shared:
            return None
        users = self.rng.choice(shared)
        owner = self.owner_of[users[0].external_id]
        line = self._stranger(day, "shared_account", users[0].name, "Payment", owner)
        line.payer_account = users[0].ibans[0]
        return line

    def unknown_payer(self, day: date) -> Line:
        name = self.rng.choice(self.customers).name if self.rng.random() < 0.5 else "Unknown Person"
        return self._stranger(day, "unknown_payer", name, self.rng.choice(THANKS) or None)

    def order_number_trap(self, day: date) -> Line:
        invoice = self.rng.choice(self.invoices)
        digits = invoice.number.split("-")[1]
        return self._stranger(day, "order_number_trap", "Web Shop Payout", f"Order {digits}")

    def shared_name(self, day: date) -> Line | None:
        names = self._shared_names
        if not names:
            return None
        return self._stranger(day, "shared_name", self.rng.choice(names), "Payment")

    # The master data is made once, before the first line: what two customers share is looked up
    # once too (read per line, it made the generator quadratic: 1,000,000 lines ran 16 minutes
    # and had not finished).
    @cached_property
    def _shared_names(self) -> list[str]:
        counts = Counter(c.name for c in self.customers)
        return sorted(n for n, k in counts.items() if k > 1)

    @cached_property
    def _shared_accounts(self) -> list[list[Customer]]:
        return [users for users in self.iban_users.values() if len(users) > 1]

    def _undo(self, day: date, scenario: str, want: Callable[[Line], bool]) -> Line | None:
        candidates = [
            c for c in self.credits[-2000:] if c.external_id not in self.reversed and want(c)
        ]
        if not candidates:
            return None
        original = self.rng.choice(candidates)
        owner = self.owner_of[original.customer or ""]
        line = self.line(day, None, -original.amount, scenario, None, owner)
        line.customer, line.reverses, line.name = (
            original.customer,
            original.external_id,
            original.name,
        )
        self.reversed.add(original.external_id)
        for number, amount in original.allocations:  # the truth reopens the invoices too
            invoice = next(
                i for i in self.by_customer[original.customer or ""] if i.number == number
            )
            invoice.open += amount
        return line

    def dd_return(self, day: date) -> Line | None:
        line = self._undo(day, "dd_return", lambda c: c.mandate is not None and c.day < day)
        if line is None:
            return None
        original = self.credit_by_id[line.reverses or ""]
        line.e2e, line.mandate = original.e2e, original.mandate
        line.return_reason = self.rng.choice(["AC04", "AM04", "MD06", "MS02", "AC01"])
        line.bank_code, line.remittance = "PMNT/RDDT/UPDD", "Return of direct debit"
        return line

    def refund(self, day: date) -> Line | None:
        line = self._undo(day, "refund", lambda c: c.payer_account is not None and c.day < day)
        if line is None:
            return None
        original = self.credit_by_id[line.reverses or ""]
        line.payer_account = original.payer_account
        line.remittance = f"Refund of payment {original.external_id}"
        line.bank_code = "PMNT/ICDT/ESCT"
        return line

    def chargeback(self, day: date) -> Line | None:
        line = self._undo(day, "chargeback", lambda c: c.mandate is None and c.day < day)
        if line is None:
            return None
        original = self.credit_by_id[line.reverses or ""]
        line.e2e, line.remittance, line.bank_code = original.e2e, "Chargeback", "PMNT/CCRD/CHBK"
        return line

    def supplier_debit(self, day: date) -> Line:
        line = self._stranger(
            day, "supplier_debit", "Office Supplies plc", "Invoice 88 office supplies"
        )
        line.amount = -line.amount
        line.e2e = None
        return line
