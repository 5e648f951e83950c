"""ASGI entry point: ``chatsite.asgi:application`` (uvicorn, daphne).

HTTP goes to Django; WebSockets are routed by Channels (issue "Live replies").
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

# Build Django first: it sets up the app registry the routing below imports from.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from chatsite.limits import RequestBodyLimitMiddleware  # noqa: E402

# Oversized bodies are refused as they arrive, before Django reads them whole.
application = ProtocolTypeRouter({"http": RequestBodyLimitMiddleware(django_asgi_app)})
