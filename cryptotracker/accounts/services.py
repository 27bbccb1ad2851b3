"""Writes on a user's API token (DRF's one token per user): issue or rotate, revoke."""

from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token


@transaction.atomic
def api_token_issue(*, user) -> str:
    """Create the user's API token, replacing any previous one (which stops working); returns the key.

    The key is shown to the user once: pages only ever show whether a token exists and since when.
    """
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user).key


def api_token_revoke(*, user) -> bool:
    """Delete the user's API token; False if there was none."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)
