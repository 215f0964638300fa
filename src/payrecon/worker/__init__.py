"""Celery: the app, the tasks (thin), and dispatch helpers for entrypoints."""
