"""WebSocket routes (issue "Live replies"): one socket per open chat page.

``/ws/chat/<conversation_id>`` follows an existing conversation; ``/ws/chat`` starts
with none and follows the conversation its first ``send`` creates. The id is
checked by the consumer, so a malformed one is refused like a missing one (4404).
"""

from __future__ import annotations

from django.urls import path, re_path

from conversations.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat", ChatConsumer.as_asgi()),
    re_path(r"^ws/chat/(?P<conversation_id>[^/]+)$", ChatConsumer.as_asgi()),
]
