"""Pure domain: money, statement lines, matching, balances. No I/O imports (checked by lint)."""
