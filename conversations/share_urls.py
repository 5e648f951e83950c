"""Share links' page routes (issue 15, "Share"): the public ``/s/<token>`` and the owner's dialog.

``/s/<token>`` needs no session; everything under ``/chat`` does (SC-005).
"""

from __future__ import annotations

from django.urls import path

from conversations import share_page_views

urlpatterns = [
    path("s/<str:token>", share_page_views.shared, name="shared"),
    path("chat/<uuid:conversation_id>/share", share_page_views.share, name="share"),
    path("chat/<uuid:conversation_id>/share/update", share_page_views.share_update, name="share-update"),
    path("chat/<uuid:conversation_id>/share/stop", share_page_views.share_stop, name="share-stop"),
]
