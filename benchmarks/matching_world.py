"""The benchmark's world: two contract owners, their customers and invoices (with traps in the
master data), and the helpers scenarios use to write lines and their truth."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import combinations

from benchmarks.matching_files import Customer, Invoice, Line


@dataclass(frozen=True)
class Owner:
    id: int
    account: str
    currency: str
    prefix: str  # as printed on invoices: "INV-"
    width: int
    number_format: str | None  # contract_owners.invoice_number_format (None: the default)
    file_format: str


OWNERS = (
    Owner(1, "GB33BUKB20201555555555", "GBP", "INV-", 7, None, "camt053"),
    Owner(2, "DE44500105175407324931", "EUR", "RG-", 6, "RG-000000", "mt940"),
)
START = date(2026, 10, 1)
DAYS = 28
FIRST = [
    "Ada",
    "Ben",
    "Cara",
    "Dev",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kai",
    "Lea",
    "Max",
    "Nia",
    "Oto",
    "Pia",
    "Rui",
    "Sol",
    "Tom",
    "Uma",
]
LAST = [
    "Abbott",
    "Bauer",
    "Chen",
    "Dubois",
    "Ekström",
    "Fischer",
    "Garcia",
    "Haas",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Laine",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Young",
    "Zimmer",
]
FORMS = ["", "", "", " Ltd", " GmbH", " & Co", " Trading", " Services"]
THANKS = ["Thank you", "Payment", "Monthly payment", "Services October", "", "Rent", "Transfer"]

# scenario -> weight; each produces one line (see the methods of the same name)


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


class World:
    def __init__(self, seed: int, lines: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.target = lines
        self.customers: list[Customer] = []
        self.invoices: list[Invoice] = []
        self.by_number: dict[str, Invoice] = {}  # the first invoice of each number
        self.by_customer: dict[str, list[Invoice]] = {}
        self.lines: list[Line] = []
        self.credits: list[Line] = []  # credits a later debit may undo
        self.credit_by_id: dict[str, Line] = {}
        self.reversed: set[str] = set()
        self.retired: set[str] = set()
        self.owner_of: dict[str, Owner] = {}
        self.iban_users: dict[str, list[Customer]] = {}
        self._serial = 0
        self._make_customers(max(60, lines // 2))

    # -- master data ------------------------------------------------------------------------
    def _iban(self, country: str) -> str:
        return f"{country}{self.rng.randint(10, 99)}BANK{self.rng.randrange(10**13, 10**14)}"

    def _make_customers(self, count: int) -> None:
        rng = self.rng
        shared_names = [
            f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(max(2, count // 60))
        ]
        numbers = {o.id: 0 for o in OWNERS}
        for n in range(1, count + 1):
            owner = OWNERS[0] if rng.random() < 0.6 else OWNERS[1]
            name = (
                rng.choice(shared_names)
                if rng.random() < 0.04
                else f"{rng.choice(FIRST)} {rng.choice(LAST)}{rng.choice(FORMS)} {n}"
            )
            roll = rng.random()
            ibans = [] if roll < 0.07 else [self._iban("GB" if owner.id == 1 else "DE")]
            if roll > 0.92:
                ibans.append(self._iban("FR"))
            customer = Customer(
                external_id=f"C{n:07d}",
                name=name,
                owner=owner.id,
                currency=owner.currency,
                account_number=f"AC{n:06d}",
                ibans=ibans,
                mandate=f"MD{self.seed:02d}{n:07d}" if rng.random() < 0.25 else None,
            )
            if ibans and rng.random() < 0.01 and self.customers:
                other = rng.choice(self.customers)  # a parent company paying for two customers
                if other.ibans and other.owner == owner.id:
                    customer.ibans = [other.ibans[0]]
            self.customers.append(customer)
            self.owner_of[customer.external_id] = owner
            for iban in customer.ibans:
                self.iban_users.setdefault(iban, []).append(customer)
            for _ in range(rng.randint(1, 6)):
                numbers[owner.id] += 1
                self._add_invoice(customer, owner, numbers[owner.id])
        # Trap: a few account numbers are bare digits that are also another invoice's number.
        for customer in rng.sample(self.customers, max(1, count // 50)):
            owner = self.owner_of[customer.external_id]
            customer.account_number = f"{rng.randint(1, numbers[owner.id]):0{owner.width}d}"

    def _add_invoice(self, customer: Customer, owner: Owner, number: int) -> None:
        rng = self.rng
        due = START + timedelta(days=rng.randint(-60, 25))
        cents = rng.choice([4900, 9900, 2500]) if rng.random() < 0.05 else rng.randint(500, 250000)
        invoice = Invoice(
            external_id=f"I{owner.id}-{number:07d}",
            number=f"{owner.prefix}{number:0{owner.width}d}",
            customer=customer,
            issue=due - timedelta(days=30),
            due=due,
            total=_money(cents),
        )
        invoice.open = invoice.total
        self.invoices.append(invoice)
        self.by_number.setdefault(invoice.number, invoice)
        self.by_customer.setdefault(customer.external_id, []).append(invoice)

    # -- helpers ----------------------------------------------------------------------------
    def open_invoices(self, customer: Customer) -> list[Invoice]:
        found = [i for i in self.by_customer[customer.external_id] if i.open > 0]
        return sorted(found, key=lambda i: (i.due, i.number))

    def pick(self, want: Callable[[Customer], bool]) -> Customer | None:
        for _ in range(50):
            customer = self.rng.choice(self.customers)
            if customer.external_id not in self.retired and want(customer):
                return customer
        return None

    def retire(self, customer_id: str | None) -> None:
        """A line only a person can match leaves its customer's open amounts in doubt until the
        review queue is worked: no later line of this customer, so the doubt does not spread."""
        if customer_id:
            self.retired.add(customer_id)

    def line(
        self,
        day: date,
        customer: Customer | None,
        amount: Decimal,
        scenario: str,
        rule: str | None,
        owner: Owner,
    ) -> Line:
        self._serial += 1
        kind = "C" if owner.file_format == "camt053" else "M"
        return Line(
            external_id=f"{kind}{self.seed:02d}{self._serial:08d}",
            day=day,
            amount=amount,
            currency=owner.currency,
            scenario=scenario,
            expected_rule=rule,
            customer=customer.external_id if customer else None,
            e2e=f"E2E{self.seed:02d}{self._serial:08d}" if amount > 0 else None,
            name=customer.name if customer else None,
        )

    def pay(self, line: Line, invoices: list[Invoice]) -> None:
        """The truth of a payment: oldest due first over `invoices`, surplus unused."""
        remaining = line.amount
        for invoice in sorted(invoices, key=lambda i: (i.due, i.number)):
            applied = min(remaining, invoice.open)
            if applied > 0:
                invoice.open -= applied
                remaining -= applied
                line.allocations.append((invoice.number, applied))

    def _undo_truth(self, line: Line) -> None:
        """Forget a line the scenario decided not to write after all."""
        for number, amount in line.allocations:
            invoice = self.by_number[number]
            invoice.open += amount
        self._serial -= 1

    def known_account(self, customer: Customer) -> str | None:
        usable = [i for i in customer.ibans if len(self.iban_users[i]) == 1]
        return self.rng.choice(usable) if usable else None

    def stranger_account(self) -> str:
        return self._iban("NL")

    def sums_to(self, customer: Customer, amount: Decimal) -> int:
        """How many sets of 1..4 of the customer's open invoices sum to `amount` exactly."""
        opened = [i.open for i in self.open_invoices(customer)]
        return sum(
            1
            for size in range(1, 5)
            for chosen in combinations(opened, size)
            if sum(chosen, Decimal(0)) == amount
        )

    def unique_amount(self, customer: Customer, invoice: Invoice) -> bool:
        return sum(1 for i in self.open_invoices(customer) if i.open == invoice.open) == 1

    # -- generation -------------------------------------------------------------------------
