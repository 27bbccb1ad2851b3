"""Session engine: Django's database sessions, ignoring session keys that Django never issues.

Django issues 32-character keys of [a-z0-9]. A forged cookie holding other characters (a NUL
byte, say) would otherwise reach the database query, and PostgreSQL rejects NUL in text with
an error (HTTP 500) instead of "no such session".
"""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    """Database sessions whose keys must be alphanumeric ASCII, like the ones Django creates."""

    def _validate_session_key(self, key: str | None) -> bool:
        return bool(super()._validate_session_key(key)) and key.isascii() and key.isalnum()
