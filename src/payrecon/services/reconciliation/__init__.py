"""Reconciliation: bank files received and ingested, lines matched, the review queue, exports."""
