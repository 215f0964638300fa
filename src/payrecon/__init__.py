"""payrecon: bank and provider feeds matched to invoices, balances kept exact to the cent."""

__version__ = "0.1.0"
