"""``/api/{user_id}/conversations/{conversation_id}/share``: share links over the API (issue 15, "Share").

Thin, like ``views``: the owner check (``OwnerAPIView``: a token whose subject is the path's
user, else 401/403; ``conversation_get_for_user``: someone else's conversation is a 404), then
one call into ``conversations.sharing``.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from conversations import selectors, sharing
from conversations.api.views import _COMMON_ERRORS, _CONVERSATION_ID, _ERROR, _USER_ID, OwnerAPIView

NOT_SHARED_DETAIL = "This conversation is not shared."


class ShareLinkSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="The public, read-only link: /s/<token> on this site.")
    created_at = serializers.DateTimeField(help_text="When this link (and its snapshot) was made.")


class ShareView(OwnerAPIView):
    """Create (or replace) and revoke a conversation's public link."""

    @extend_schema(
        operation_id="conversations_share_create",
        parameters=[_USER_ID, _CONVERSATION_ID],
        request=None,
        responses={
            201: ShareLinkSerializer,
            **_COMMON_ERRORS,
            404: OpenApiResponse(_ERROR, description="No such conversation for this user (or a malformed id)."),
        },
        description=(
            "Share the conversation as it is now: anyone with the link sees its title and its messages up "
            "to now, without signing in; later messages are not shown. Sharing a shared conversation again "
            "makes a new link with a new snapshot, and the old link stops working."
        ),
    )
    def post(self, request: Request, user_id: str, conversation_id: str) -> Response:
        conversation = selectors.conversation_get_for_user(user_id=user_id, conversation_id=conversation_id)
        link = sharing.share_create(conversation=conversation)
        body = {"url": request.build_absolute_uri(reverse("shared", args=[link.token])), "created_at": link.created_at}
        return Response(ShareLinkSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="conversations_share_destroy",
        parameters=[_USER_ID, _CONVERSATION_ID],
        request=None,
        responses={
            204: None,
            **_COMMON_ERRORS,
            404: OpenApiResponse(
                _ERROR, description="No such conversation for this user (or a malformed id), or it is not shared."
            ),
        },
        description="Stop sharing: the link answers 404 from now on.",
    )
    def delete(self, request: Request, user_id: str, conversation_id: str) -> Response:
        conversation = selectors.conversation_get_for_user(user_id=user_id, conversation_id=conversation_id)
        try:
            sharing.share_revoke(conversation=conversation)
        except sharing.ShareNotFound:
            raise exceptions.NotFound(NOT_SHARED_DETAIL) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
