"""CSV export of list responses (`?format=csv`), written with the standard library's csv module."""

from __future__ import annotations

import csv
import io
from typing import Any

from rest_framework.renderers import BaseRenderer


class CsvRenderer(BaseRenderer):
    """Renders the `results` rows of a response as CSV with a header row (UTF-8)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None
    ) -> bytes:
        rows = data.get("results", []) if isinstance(data, dict) else data or []
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        response = renderer_context.get("response") if renderer_context else None
        view = renderer_context.get("view") if renderer_context else None
        if response is not None and view is not None and getattr(view, "csv_filename", None):
            response["Content-Disposition"] = f'attachment; filename="{view.csv_filename}"'
        return buffer.getvalue().encode(self.charset)
