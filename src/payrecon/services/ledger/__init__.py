"""The ledger: payments, credit notes, refunds, adjustments, balances, credit status, and the
ledger audit."""
