"""CSV cells a spreadsheet will not run: every CSV export (invoices, statistics) writes its cells through here."""
from __future__ import annotations

# Spreadsheets run a cell that starts with one of these as a formula; a customer's name must not be one.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str | int | float:
    """Numbers as they are; text that starts like a formula gets a leading apostrophe; None is empty."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
