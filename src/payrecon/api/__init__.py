"""The status API (FastAPI): one router per resource, bearer-token auth, exact decimals in JSON."""
