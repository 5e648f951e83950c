"""drf-spectacular extensions: the JWT bearer scheme, and request bodies as strict as the views."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.plumbing import force_instance


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "conversations.auth.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class StrictRequestScheme(OpenApiSerializerExtension):
    """Request bodies exactly as the views check them.

    Serializers with ``NoExtraFieldsMixin`` refuse unknown fields, so the schema says
    ``additionalProperties: false``; and they validate PATCH bodies with the same
    required fields as any other (a rename needs its title), so the schema does not
    mark them partial.
    """

    target_class = "conversations.api.serializers.NoExtraFieldsMixin"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        serializer = force_instance(self.target)
        serializer.partial = False
        schema = auto_schema._map_basic_serializer(serializer, direction)
        if schema.get("description", "").startswith("Refuse fields"):
            del schema["description"]  # the mixin's docstring, not the serializer's
        if direction == "request":
            schema["additionalProperties"] = False
        return schema
