"""How old the review queue's lines are: buckets a person can act on."""

from __future__ import annotations

from datetime import date, timedelta

# (label, lines at least this many days old); the last bucket is open-ended.
AGE_BUCKETS: tuple[tuple[str, int], ...] = (
    ("0-2d", 0),
    ("3-6d", 3),
    ("7-29d", 7),
    ("30d+", 30),
)


def bucket_cutoffs(as_of: date) -> list[tuple[str, date]]:
    """Each bucket with the latest booking date that is old enough to fall in it."""
    return [(label, as_of - timedelta(days=days)) for label, days in AGE_BUCKETS]


def age_bucket(booking_date: date, as_of: date) -> str:
    label = AGE_BUCKETS[0][0]
    for name, cutoff in bucket_cutoffs(as_of):
        if booking_date <= cutoff:
            label = name
    return label
