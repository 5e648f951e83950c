"""The ASGI lifespan protocol: what the server process does when it starts and stops.

uvicorn sends ``lifespan.startup`` before it accepts connections and ``lifespan.shutdown``
after the last one has finished (ASGI spec, "Lifespan Protocol"). At shutdown the assistant
backend closes its HTTP connections to the model server, so a worker that stops (a deploy,
``--limit-max-requests``) hangs up cleanly instead of leaving the sockets to the garbage
collector. daphne does not speak this protocol; nothing depends on it running.
"""

from __future__ import annotations

import logging
from typing import Any

from conversations.assistant import close_assistant

logger = logging.getLogger(__name__)


async def lifespan_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ``lifespan`` scope's application: acknowledges startup, closes the assistant at shutdown.

    A failure while closing is logged and still acknowledged (``lifespan.shutdown.complete``):
    the process is stopping either way, and the server must not wait on it.
    """
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await close_assistant()
            except Exception:
                logger.exception("Closing the assistant backend at shutdown failed")
            await send({"type": "lifespan.shutdown.complete"})
            return
