"""The ASGI lifespan protocol: what the server process does when it starts and stops.

uvicorn sends ``lifespan.startup`` before it accepts connections and ``lifespan.shutdown``
after the last one has finished (ASGI spec, "Lifespan Protocol"). At startup the worker's
stale-reply sweep starts (``conversations.sweeper``, issue 12) and so does the MCP door's
session manager (``tasks.mcp``). At shutdown they stop, and the assistant backend closes its
HTTP connections to the model server, so a worker that stops (a deploy,
``--limit-max-requests``) hangs up cleanly instead of leaving the sockets to the garbage
collector. daphne does not speak this protocol: ``StartWorkerTasks`` starts the sweep on the
first connection instead, and the MCP door starts its session manager on its first request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from conversations import sweeper
from conversations.assistant import close_assistant
from tasks import mcp

logger = logging.getLogger(__name__)


async def lifespan_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ``lifespan`` scope's application: acknowledges startup, closes the assistant at shutdown.

    A failure while closing is logged and still acknowledged (``lifespan.shutdown.complete``):
    the process is stopping either way, and the server must not wait on it.
    """
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            sweeper.start()
            await mcp.door.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await sweeper.stop()
                await mcp.door.stop()
                await close_assistant()
            except Exception:
                logger.exception("Closing the assistant backend at shutdown failed")
            await send({"type": "lifespan.shutdown.complete"})
            return


class StartWorkerTasks:
    """ASGI middleware: make sure this worker's sweep runs (``sweeper.start``), for servers that
    send no lifespan events (daphne, ``runserver``, ``uvicorn --lifespan off``).

    Args:
        app: the application to call for every connection.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._loop: object = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            sweeper.start()
        await self.app(scope, receive, send)
