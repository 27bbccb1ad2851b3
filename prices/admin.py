"""Admin for prices: the status of pairs that left the exchange's list or whose candles it rejects,
and the poll lease (read only)."""

from __future__ import annotations

from django.contrib import admin

from prices.models import PairStatus, PollLease


@admin.register(PairStatus)
class PairStatusAdmin(admin.ModelAdmin):
    """Operators see why a pair is inactive or delisted; setting it active again makes gap repair
    ask for it again (reconciliation re-marks a pair still missing from the exchange's list)."""

    list_display = ("pair", "exchange", "state", "since", "failures", "reason", "updated_at")
    list_filter = ("state", "exchange")
    search_fields = ("pair",)
    readonly_fields = ("updated_at",)


@admin.register(PollLease)
class PollLeaseAdmin(admin.ModelAdmin):
    """Who polls now and which minutes polls took; written only by prices.services.lease."""

    list_display = ("exchange", "owner", "minute", "expires_at", "down_from", "down_until")

    def has_add_permission(self, request) -> bool:  # noqa: ANN001 - Django admin API
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001 - Django admin API
        return False
