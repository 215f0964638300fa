"""Payment providers: sync, events and webhooks, payouts, and their payments in the ledger."""
