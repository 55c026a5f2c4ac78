"""Shared numpydoc sections of the public docstrings."""

from __future__ import annotations

import re

# Sections that come after Parameters and Returns in numpydoc's order.
_LATER = ("Raises", "Warns", "Warnings", "See Also", "Notes", "References", "Examples")


def with_sections(doc: str, sections: str) -> str:
    """`doc` (a function's raw, 4-space indented docstring) with `sections` (numpydoc
    sections, indented the same) inserted where numpydoc's order puts them: before the
    first of Raises, ..., References, Examples, else at the end."""
    body = doc.rstrip()
    later = [m.start() for s in _LATER for m in re.finditer(rf"\n    {re.escape(s)}\n    -+\n", body)]
    sections = sections.strip("\n")
    if later:
        at = min(later)
        return body[:at].rstrip() + "\n\n" + sections + "\n" + body[at:] + "\n    "
    return body + "\n\n" + sections + "\n    "
