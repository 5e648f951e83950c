"""A JSON parser that refuses oversized bodies before reading them whole."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from conversations.api.errors import PayloadTooLarge


class LimitedJSONParser(parsers.JSONParser):
    """``application/json`` bodies up to ``DJANGO_MAX_REQUEST_BYTES`` bytes.

    The declared ``Content-Length`` is checked first, and at most limit + 1 bytes are
    ever read, so a huge or endless body costs no more than the limit.

    Raises:
        PayloadTooLarge: 413 when the body is over the limit.
        ParseError: 400 when it is not UTF-8 JSON (or is nested too deeply to parse).
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
        if stream is None:
            raise ParseError("empty body")
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            # "[[[[..." nested deeper than Python's recursion limit fits in the byte limit.
            raise ParseError("JSON parse error - nested too deeply") from None
