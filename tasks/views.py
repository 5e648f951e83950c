"""The tasks panel beside the chat (issue 13, "The page"): htmx fragments over ``tasks.services``.

Thin doors, as in ``conversations.views``: parse with a form, call one service, render the
panel (``tasks/_panel.html``) or one task (``tasks/_task.html``) for htmx, or the whole tasks
page (``tasks/page.html``) otherwise. Without JavaScript the forms post and are redirected
back to the page they were on (post/redirect/get). The identity is ``str(request.user.pk)``,
the same as the API's and the assistant's, so all three show the same tasks.

The chat page includes the panel empty and the panel loads itself (``hx-trigger="load"``), so
the chat page costs no query more. The panel reloads itself on the ``tasks-changed`` event on
``<body>``: the page's script raises it when a reply's tool call arrives (``reply.tool_call``
on the socket) or a reply with tool calls lands over HTTP (``static/js/chat.js``), and a 404
for a task that is gone raises it through an ``HX-Trigger`` response header (``_gone``).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from conversations.auth import user_id_of
from conversations.views import session_required
from tasks import services
from tasks.forms import TaskTickForm, TaskTitleForm
from tasks.models import Task

PANEL = "tasks/_panel.html"
TASK = "tasks/_task.html"
PAGE = "tasks/page.html"
# The event that makes the panel reload (its root's hx-trigger); see the module docstring.
TASKS_CHANGED = "tasks-changed"
TASK_GONE = gettext_lazy("This task was not found. It may have been deleted.")


def _fragment(request: HttpRequest) -> bool:
    """An htmx swap, not a history restore (which needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _back_to(request: HttpRequest) -> str:
    """The page the person is on, for the forms' ``next``: only used when JavaScript is off."""
    if _fragment(request):
        return request.htmx.current_url_abs_path or reverse("tasks")
    return reverse("tasks")


def _next(request: HttpRequest) -> str:
    """Where a form posted without htmx goes back to: its ``next`` when it is on this site."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("tasks")


def _render_panel(request: HttpRequest, *, status: int = 200, **context: Any) -> HttpResponse:
    """The panel with the user's tasks for htmx; the tasks page otherwise."""
    context.update(tasks=services.task_list(user_id=user_id_of(request.user)), loaded=True, back=_back_to(request))
    return render(request, PANEL if _fragment(request) else PAGE, context, status=status)


def _render_task(request: HttpRequest, task: Task, *, status: int = 200, **context: Any) -> HttpResponse:
    context.update(task=task, back=_back_to(request))
    return render(request, TASK, context, status=status)


def _gone(request: HttpRequest) -> HttpResponse:
    """No such task for this user (someone else's is the same answer): 404, nothing changed.

    htmx gets the sentence and an ``HX-Trigger`` that reloads the panel: the task was most
    likely deleted meanwhile (by the assistant, or in another tab).
    """
    if not request.htmx:
        raise Http404(TASK_GONE)
    response = render(request, "conversations/_error.html", {"detail": TASK_GONE}, status=404)
    response["HX-Trigger"] = TASKS_CHANGED
    return response


def _rename_number(request: HttpRequest) -> int | None:
    try:
        return int(request.GET.get("rename", ""))
    except ValueError:
        return None


@require_http_methods(["GET", "HEAD", "POST"])
@session_required
@vary_on_headers("HX-Request")
def tasks(request: HttpRequest) -> HttpResponse:
    """``GET /chat/tasks``: the panel (htmx) or the tasks page; ``?rename=<n>`` opens task n's Rename form.

    ``POST /chat/tasks`` ``title``: add a task. htmx gets the panel (400 with the services'
    sentence at the field and the text kept, nothing saved); a plain post goes back.
    """
    if request.method != "POST":
        return _render_panel(request, editing=_rename_number(request))
    form = TaskTitleForm(request.POST)
    if not form.is_valid():
        return _render_panel(
            request, add_error=form.errors["title"][0], add_value=form.data.get("title", ""), status=400
        )
    services.task_create(user_id=user_id_of(request.user), title=form.cleaned_data["title"])
    if not request.htmx:
        return redirect(_next(request))
    return _render_panel(request)


@require_http_methods(["GET", "HEAD", "POST"])
@session_required
@vary_on_headers("HX-Request")
def task(request: HttpRequest, number: int) -> HttpResponse:
    """``GET /chat/tasks/<n>``: one task (``?rename=1``: its Rename form), or the tasks page without htmx.

    ``POST /chat/tasks/<n>``: with ``title``, rename it; without, tick or untick it
    (``completed``: the checkbox). htmx gets the task (400 with the sentence and the text
    kept); a plain post goes back. Someone else's task is a 404 and changes nothing.
    """
    user_id = user_id_of(request.user)
    if request.method != "POST":
        try:
            found = services.task_get_for_user(user_id=user_id, number=number)
        except services.TaskNotFound:
            return _gone(request)
        editing = number if "rename" in request.GET else None
        if not _fragment(request):
            return _render_panel(request, editing=editing)
        return _render_task(request, found, editing=editing)
    try:
        if "title" in request.POST:
            form = TaskTitleForm(request.POST)
            if not form.is_valid():
                return _invalid_title(request, number, form)
            found = services.task_update(user_id=user_id, number=number, title=form.cleaned_data["title"])
        else:
            tick = TaskTickForm(request.POST)
            tick.is_valid()  # a checkbox is always valid: absent is False
            found = services.task_update(user_id=user_id, number=number, completed=tick.cleaned_data["completed"])
    except services.TaskNotFound:
        return _gone(request)
    if not request.htmx:
        return redirect(_next(request))
    return _render_task(request, found)


def _invalid_title(request: HttpRequest, number: int, form: TaskTitleForm) -> HttpResponse:
    """The Rename form again, with the services' sentence at the field and the text kept; nothing saved."""
    found = services.task_get_for_user(user_id=user_id_of(request.user), number=number)
    context = {"editing": number, "rename_error": form.errors["title"][0], "rename_value": form.data.get("title", "")}
    if not request.htmx:
        return _render_panel(request, status=400, **context)
    return _render_task(request, found, status=400, **context)


@require_POST
@session_required
def task_delete(request: HttpRequest, number: int) -> HttpResponse:
    """``POST /chat/tasks/<n>/delete``: delete it (confirmed in the page); htmx gets the panel."""
    try:
        services.task_delete(user_id=user_id_of(request.user), number=number)
    except services.TaskNotFound:
        return _gone(request)
    if not request.htmx:
        return redirect(_next(request))
    return _render_panel(request)
