"""The site's own pages and its liveness check; the chat lives in `chat.views`."""

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def about(request: HttpRequest) -> HttpResponse:
    """A second content page: the chat widget is on every page, not only the home page."""
    return render(request, "about.html")


@login_required
def chat_page(request: HttpRequest) -> HttpResponse:
    """The full-page chat: the same client, threads and settings as the floating panel."""
    return render(request, "chat/page.html")


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
