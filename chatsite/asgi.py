"""ASGI entry point: ``chatsite.asgi:application`` (uvicorn, daphne).

HTTP goes to Django: calls to ``/api/`` with ``Authorization: Bearer`` through a
lean middleware chain (``chatsite.handlers``; ``settings.API_MIDDLEWARE``), every
other request through the full one (``settings.MIDDLEWARE``), each request's synchronous
code on a thread lent for the request and given back (``ReusedThreadsASGIHandler``). WebSockets (``/ws/chat...``) go through the origin check,
the session and the JWT to the chat consumer (issue "Live replies"; docs/live.md).
HTTP to ``/mcp`` goes to the MCP door instead: the task tools over MCP, behind the same
Bearer JWT (``tasks.mcp``; docs/mcp.md). The ``lifespan`` scope (uvicorn) runs the MCP
session manager and closes the assistant's model connections at shutdown (``chatsite.lifespan``).
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

# Set up Django first (as get_asgi_application does): the app registry the routing
# below imports from.
django.setup(set_prefix=False)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from chatsite.handlers import APIHandler, BearerAPIRouter, ReusedThreadsASGIHandler  # noqa: E402
from chatsite.lifespan import StartWorkerTasks, lifespan_app  # noqa: E402
from chatsite.limits import RequestBodyLimitMiddleware  # noqa: E402
from chatsite.runtime import tune_garbage_collector  # noqa: E402
from conversations.assistant import get_assistant  # noqa: E402
from conversations.auth import websocket_auth_stack  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402
from tasks.mcp import MCPRouter  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Oversized bodies are refused as they arrive, before Django or the MCP door reads them.
        "http": StartWorkerTasks(
            RequestBodyLimitMiddleware(
                MCPRouter(default=BearerAPIRouter(default=ReusedThreadsASGIHandler(), api=APIHandler()))
            )
        ),
        "websocket": StartWorkerTasks(websocket_auth_stack(URLRouter(websocket_urlpatterns))),
        # Startup and shutdown (uvicorn): the stale-reply sweep and the MCP session manager;
        # the assistant's connections closed.
        "lifespan": lifespan_app,
    }
)

# The model backend is built, and its SDK imported, now rather than by the worker's first chat:
# importing the OpenAI SDK takes over a second, which that chat spent on the event loop,
# stalling every socket of the worker and the heartbeats of its live replies meanwhile
# (a new worker's first live reply was once closed as stale; issue 12).
get_assistant()

# Last, once everything is imported and built (chatsite/runtime.py).
tune_garbage_collector(young_threshold=settings.GC_YOUNG_THRESHOLD)
