"""Administration: the admin resources (JSON Patch) and the CSV imports of owners, customers and
invoices."""
