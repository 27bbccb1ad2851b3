"""Alert models (see issue 5)."""
