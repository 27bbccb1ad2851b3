"""Signals sent by the prices app (it knows nothing of who listens)."""

from django.dispatch import Signal

# Sent after ticks are stored. Keyword arguments: exchange (str), minutes (list of aware UTC
# datetimes: the minutes that received ticks) and source (TickSource of the ticks).
ticks_stored = Signal()
