from __future__ import annotations

from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.home, name="home"),
    path("chat", views.chat, name="chat"),
]
