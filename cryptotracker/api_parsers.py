"""Request bodies of the API: size bounded by DATA_UPLOAD_MAX_MEMORY_SIZE, JSON nesting bounded.

DRF's own parsers read a body of any size in full (only Django's `request.body` and
`request.POST` enforce DATA_UPLOAD_MAX_MEMORY_SIZE) and let a `RecursionError` from deeply
nested JSON escape as a 500. These answer 413 and 400 in the API's error shape instead.
"""

from __future__ import annotations

import codecs
import io
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.settings import api_settings
from rest_framework.utils import json


class RequestTooLargeError(APIException):
    """HTTP 413: the request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE bytes."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self) -> None:
        super().__init__(detail=f"the request body is larger than {body_limit()} bytes")


def body_limit() -> int:
    """The largest request body accepted, in bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _refuse_declared_oversize(parser_context: dict[str, Any] | None) -> None:
    request = (parser_context or {}).get("request")
    meta = getattr(request, "META", {})
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > body_limit():
        raise RequestTooLargeError()


def read_bounded(stream: IO[bytes], parser_context: dict[str, Any] | None) -> bytes:
    """The whole body, refused with RequestTooLargeError past the limit (declared or actually sent)."""
    _refuse_declared_oversize(parser_context)
    body = stream.read(body_limit() + 1)
    if len(body) > body_limit():
        raise RequestTooLargeError()
    return body


class BoundedJSONParser(parsers.JSONParser):
    """JSON bodies up to the size limit; nesting too deep for Python's parser is a 400."""

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: dict | None = None
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        body = read_bounded(stream, parser_context)
        try:
            text = codecs.decode(body, encoding)
            parse_constant = json.strict_constant if api_settings.STRICT_JSON else None
            return json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None


class BoundedFormParser(parsers.FormParser):
    """URL-encoded form bodies up to the size limit."""

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: dict | None = None
    ) -> Any:
        body = read_bounded(stream, parser_context)
        return super().parse(io.BytesIO(body), media_type, parser_context)


class BoundedMultiPartParser(parsers.MultiPartParser):
    """Multipart bodies whose declared length is within the size limit (Django bounds the fields)."""

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: dict | None = None
    ) -> Any:
        _refuse_declared_oversize(parser_context)
        return super().parse(stream, media_type, parser_context)
