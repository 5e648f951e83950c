from __future__ import annotations

from django.urls import path

from conversations.api import export_views, share_views, views

urlpatterns = [
    path("auth/token", views.TokenView.as_view(), name="api-token"),
    path("models", views.ModelsView.as_view(), name="api-models"),
    path("<str:user_id>/chat", views.ChatView.as_view(), name="api-chat"),
    path("<str:user_id>/search", views.SearchView.as_view(), name="api-search"),
    path("<str:user_id>/conversations", views.ConversationListView.as_view(), name="api-conversations"),
    path(
        "<str:user_id>/conversations/<str:conversation_id>",
        views.ConversationDetailView.as_view(),
        name="api-conversation",
    ),
    path(
        "<str:user_id>/conversations/<str:conversation_id>/messages",
        views.MessagePageView.as_view(),
        name="api-messages",
    ),
    path(
        "<str:user_id>/conversations/<str:conversation_id>/regenerate",
        views.RegenerateView.as_view(),
        name="api-regenerate",
    ),
    path(
        "<str:user_id>/conversations/<str:conversation_id>/messages/<str:message_id>/edit",
        views.EditView.as_view(),
        name="api-edit",
    ),
    path(
        "<str:user_id>/conversations/<str:conversation_id>/messages/<str:message_id>/activate",
        views.ActivateView.as_view(),
        name="api-activate",
    ),
    path("<str:user_id>/conversations/<str:conversation_id>/share", share_views.ShareView.as_view(), name="api-share"),
    path(
        "<str:user_id>/conversations/<str:conversation_id>/retry",
        views.RetryView.as_view(),
        name="api-retry",
    ),
    path(
        "<str:user_id>/conversations/<str:conversation_id>/export",
        export_views.ConversationExportView.as_view(),
        name="api-conversation-export",
    ),
    path("<str:user_id>/export", export_views.ExportAllView.as_view(), name="api-export"),
    path("<str:user_id>/import", export_views.ImportView.as_view(), name="api-import"),
]
