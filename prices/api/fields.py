"""Serializer fields for prices: exact decimal strings and ISO 8601 UTC datetimes with Z."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cryptotracker.params import iso_z
from prices.domain import decimal_str


@extend_schema_field({"type": "string", "format": "decimal", "example": "7240.04860029", "nullable": True})
class DecimalStringField(serializers.Field):
    """A Decimal rendered as the exact stored value in plain notation ('0.00007181'), or null."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal | None) -> str | None:
        return decimal_str(value)


@extend_schema_field(OpenApiTypes.DATETIME)
class UtcDateTimeField(serializers.Field):
    """An aware datetime rendered as ISO 8601 UTC with Z ('2019-12-31T00:00:00Z')."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: datetime | None) -> str | None:
        return iso_z(value)
