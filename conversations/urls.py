"""The page's routes: ``/chat`` and everything under it needs a session (SC-005)."""

from __future__ import annotations

from django.urls import include, path

from conversations import branch_views, model_views, settings_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("chat", views.chat, name="chat"),
    path("chat/new", views.chat_new, name="chat-new"),
    path("chat/send", views.send, name="send-new"),
    path("chat/conversations", views.sidebar, name="sidebar"),
    path("chat/search", views.search, name="search"),
    path("chat/<uuid:conversation_id>", views.conversation, name="conversation"),
    path("chat/<uuid:conversation_id>/messages", views.messages, name="messages"),
    path("chat/<uuid:conversation_id>/messages/<uuid:message_id>", views.message, name="message"),
    path("chat/<uuid:conversation_id>/send", views.send, name="send"),
    path("chat/<uuid:conversation_id>/retry", views.retry, name="retry"),
    path("chat/<uuid:conversation_id>/regenerate", branch_views.regenerate, name="regenerate"),
    path("chat/<uuid:conversation_id>/messages/<uuid:message_id>/edit", branch_views.edit, name="edit"),
    path("chat/<uuid:conversation_id>/messages/<uuid:message_id>/version", branch_views.version, name="version"),
    path("chat/<uuid:conversation_id>/model", model_views.choose_model, name="conversation-model"),
    path("chat/<uuid:conversation_id>/settings", model_views.conversation_settings, name="conversation-settings"),
    path("chat/<uuid:conversation_id>/rename", views.rename, name="rename"),
    path("chat/<uuid:conversation_id>/organise", views.organise, name="organise"),
    path("chat/<uuid:conversation_id>/delete", views.delete, name="delete"),
    path("chat/settings", settings_views.settings_page, name="settings"),
    path("chat/settings/password", settings_views.password_change, name="settings-password"),
    path("chat/settings/defaults", settings_views.defaults_save, name="settings-defaults"),
    path("chat/settings/delete-account", settings_views.account_delete, name="settings-delete-account"),
    path("chat/export", settings_views.export_all, name="export-all"),
    path("chat/import", settings_views.import_file, name="import"),
    path("chat/<uuid:conversation_id>/export", settings_views.conversation_export, name="conversation-export"),
    path("", include("conversations.share_urls")),
]
