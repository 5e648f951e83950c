"""ASGI entry point: ``chatsite.asgi:application`` (uvicorn, daphne).

HTTP goes to Django; WebSockets (``/ws/chat...``) go through the origin check,
the session and the JWT to the chat consumer (issue "Live replies"; docs/live.md).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

# Build Django first: it sets up the app registry the routing below imports from.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chatsite.limits import RequestBodyLimitMiddleware  # noqa: E402
from conversations.auth import websocket_auth_stack  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Oversized bodies are refused as they arrive, before Django reads them whole.
        "http": RequestBodyLimitMiddleware(django_asgi_app),
        "websocket": websocket_auth_stack(URLRouter(websocket_urlpatterns)),
    }
)
