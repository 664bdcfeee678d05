"""The site's own pages and its liveness check; the chat lives in `chat.views`."""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from chat.widget_gallery import gallery_widgets


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def about(request: HttpRequest) -> HttpResponse:
    """A second content page: the chat widget is on every page, not only the home page."""
    return render(request, "about.html")


@login_required
def chat_page(request: HttpRequest) -> HttpResponse:
    """The full-page chat: the same client, threads and settings as the floating panel."""
    return render(request, "chat/page.html")


def widget_gallery(request: HttpRequest) -> HttpResponse:
    """One of each ChatKit widget component, rendered by the built-in client's renderer:
    for staff, or anyone while DEBUG is on (a page to look at, and what the browser tests
    check the renderer against)."""
    if not (settings.DEBUG or request.user.is_staff):
        raise Http404
    widgets = [{"title": title, "widget": widget} for title, widget in gallery_widgets()]
    return render(request, "chat/widget_gallery.html", {"widgets": widgets})


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


async def healthz(request: HttpRequest) -> JsonResponse:
    if await sync_to_async(database_answers)():
        return JsonResponse({"status": "ok", "database": "ok"})
    return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
