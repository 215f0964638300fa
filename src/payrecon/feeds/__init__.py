"""Bank-statement files (camt.052/053/054, MT940/942, BAI2, OFX, CSV) read into `StatementLine`s.

    detect_format(path)                  the format, from the content
    read_statement_file(path, ...)       the normalised lines, verified against the file's totals
    numbered_lines(path, ...)            the same, each with its sequence number in the file
    read_statements(path, ...)           one StatementHeader per statement in the file
    read_feed(path, ...)                 lines, headers and FeedNotices, in file order

Every malformed input raises `payrecon.domain.errors.FeedFormatError` naming the file and the place.
"""

from payrecon.feeds.detect import (
    FORMATS,
    detect_format,
    numbered_lines,
    read_feed,
    read_statement_file,
    read_statements,
)
from payrecon.feeds.statement import FeedNotice, StatementHeader

__all__ = [
    "FORMATS",
    "FeedNotice",
    "StatementHeader",
    "detect_format",
    "numbered_lines",
    "read_feed",
    "read_statement_file",
    "read_statements",
]
