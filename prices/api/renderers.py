"""CSV export of the price API (`?format=csv`), written with the standard library's csv module."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from rest_framework.renderers import BaseRenderer

# Rows per chunk of a streamed export: few enough to start at once, enough to keep writes cheap.
CSV_CHUNK_ROWS = 500


class CsvRenderer(BaseRenderer):
    """Selects CSV for `?format=csv` or `Accept: text/csv`; renders a list response's `results`.

    The history view streams its export itself with `csv_lines` (a range of any length);
    `render` serves responses that are already one page.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None
    ) -> bytes:
        rows = data.get("results", []) if isinstance(data, dict) else data or []
        return b"".join(csv_lines(rows, fieldnames=list(rows[0]) if rows else []))


def csv_lines(rows: Iterable[dict[str, Any]], *, fieldnames: list[str]) -> Iterator[bytes]:
    """A header line (when there are fields) and then the rows, as UTF-8 CSV chunks, lazily."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
    if fieldnames:
        writer.writeheader()
    pending = 0
    for row in rows:
        # Booleans as in the JSON answers ("true"/"false"), not Python's True/False.
        writer.writerow({k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in row.items()})
        pending += 1
        if pending >= CSV_CHUNK_ROWS:
            yield _drain(buffer)
            pending = 0
    if buffer.tell():
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")
