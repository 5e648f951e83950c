"""The contract's conversation detail as a streamed JSON body (issue 6).

``GET /api/{user_id}/conversations/{id}`` returns every message. Built the usual DRF
way, a 50,000-message conversation held each message as a dict, then the whole JSON
text, then its bytes: about four times the response in memory (BENCHMARKS.md). Here
the body is written chunk by chunk from keyset queries
(``selectors.conversation_message_chunks``), so a worker's memory stays at one chunk
whatever the conversation's length. The bytes are the ones ``JSONRenderer`` writes for
``ConversationDetailSerializer``: same fields, same formats.

A database error after the first chunk can only cut the body short (the status line
is already sent); the client sees invalid JSON rather than a partial list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.http import HttpRequest, StreamingHttpResponse
from rest_framework.renderers import JSONRenderer

from conversations import selectors
from conversations.api import serializers as s
from conversations.models import Conversation

_FIELDS = tuple(s.MessageSerializer().fields)


def conversation_detail_chunks(conversation: Conversation) -> Iterator[bytes]:
    """The detail body of ``conversation`` as JSON byte chunks (one per query of messages)."""
    renderer = JSONRenderer()
    head = renderer.render(s.ConversationHeaderSerializer(conversation).data)
    yield head[:-1] + b',"messages":['
    message = s.MessageSerializer()
    first = True
    for rows in selectors.conversation_message_chunks(
        conversation=conversation, fields=_FIELDS, chunk_size=selectors.DETAIL_CHUNK_SIZE
    ):
        items = renderer.render([message.to_representation(row) for row in rows])[1:-1]
        yield items if first else b"," + items
        first = False
    yield b"]}"


async def _in_request_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Each chunk is made in the request's own thread (thread-sensitive), where its
    # database connection lives; the event loop only sends bytes.
    produce = sync_to_async(next)
    while (chunk := await produce(chunks, None)) is not None:
        yield chunk


def streamed_response(
    request: HttpRequest, chunks: Iterator[bytes], *, content_type: str = "application/json"
) -> StreamingHttpResponse:
    """A streamed ``200`` whose body is ``chunks``, made one at a time in the request's thread.

    Under ASGI the body is an async iterator: given a sync one, Django would read it
    whole into a list before sending anything. Under WSGI (and Django's test client)
    it is the plain iterator.
    """
    under_asgi = hasattr(request, "scope")
    content = _in_request_thread(chunks) if under_asgi else chunks
    return StreamingHttpResponse(content, content_type=content_type)


def conversation_detail_response(request: HttpRequest, conversation: Conversation) -> StreamingHttpResponse:
    """A streamed ``200 application/json`` detail of an owner-checked ``conversation``."""
    return streamed_response(request, conversation_detail_chunks(conversation))
