""" "My data": a logged-in user downloads all their conversations or deletes them.

Both act on the requesting user's own threads only. The downloads stream (threads and
items come from database iterators, chunks go out as they are made), so a long history
never sits in memory. Deleting goes through the same service as
`manage.py purge_threads --user` (chat.retention.purge), so items, feedback, attachments
and their stored files go too.
"""

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_POST

from chat.chatkit.broadcast import notify_user
from chat.models import Attachment, Thread, ThreadItem
from chat.retention.purge import PurgeCounts, Selection, purge
from chat.review.export import json_document, markdown_document

FORMATS = {
    "json": (json_document, "application/json", "json"),
    "markdown": (markdown_document, "text/markdown; charset=utf-8", "md"),
}
# Text gathered per chunk sent: few enough round trips, little memory.
CHUNK_CHARS = 64 * 1024
# What the user types to confirm deleting everything: the word in the page's language (the
# English word is accepted too, so a form posted in either language works).
CONFIRMATION = pgettext_lazy("the word a user types to confirm deleting all their data", "delete")
# Open tabs are told about this many of the deleted threads (the most recently active:
# the ones a tab may have open); the others simply are gone on the next load.
NOTIFIED_THREADS = 100


def own_threads(user_id: object):
    return Thread.objects.filter(owner_id=user_id).select_related("owner")


def holdings(user_id: object) -> dict[str, object]:
    """How much the user has stored: what the page shows before a delete."""
    attachments = Attachment.objects.filter(owner_id=user_id).aggregate(
        n=Count("pk"), size=Sum("size")
    )
    return {
        "threads": Thread.objects.filter(owner_id=user_id).count(),
        "items": ThreadItem.objects.filter(thread__owner_id=user_id).count(),
        "attachments": attachments["n"],
        "size": attachments["size"] or 0,
    }


async def in_chunks(chunks: Iterator[str]) -> AsyncIterator[bytes]:
    """The export's text as bytes, produced on the request's own thread (the database
    iterators stay on one connection) and sent as each chunk is ready."""

    def take() -> bytes:
        parts: list[str] = []
        size = 0
        for text in chunks:
            parts.append(text)
            size += len(text)
            if size >= CHUNK_CHARS:
                break
        return "".join(parts).encode()

    while block := await sync_to_async(take)():
        yield block


@login_required
@require_GET
def my_data(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "chat/my_data.html",
        {"holdings": holdings(request.user.pk), "confirmation": CONFIRMATION},
    )


@login_required
@require_GET
def my_data_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """All the user's conversations, streamed, as a download."""
    document, content_type, extension = FORMATS[fmt]
    filename = f"my-conversations-{timezone.now():%Y%m%d-%H%M%S}.{extension}"
    return StreamingHttpResponse(
        in_chunks(document(own_threads(request.user.pk))),
        content_type=content_type,
        headers={
            "Content-Disposition": content_disposition_header(True, filename),
            "Cache-Control": "private, no-store",
        },
    )


def confirmed(typed: str) -> bool:
    """The user typed the confirmation word, in the page's language or in English."""
    return typed.strip().lower() in {str(CONFIRMATION).lower(), "delete"}


def deleted_message(counts: PurgeCounts) -> str:
    """What was deleted, in the user's language (the purge command's summary is for
    operators)."""
    return gettext("Deleted: %(threads)s (%(items)s) and %(attachments)s (%(size)s).") % {
        "threads": ngettext("%(n)d conversation", "%(n)d conversations", counts.threads)
        % {"n": counts.threads},
        "items": ngettext(
            "%(n)d message or other item", "%(n)d messages and other items", counts.items
        )
        % {"n": counts.items},
        "attachments": ngettext("%(n)d attachment", "%(n)d attachments", counts.attachments)
        % {"n": counts.attachments},
        "size": filesizeformat(counts.bytes),
    }


@login_required
@require_POST
def my_data_delete(request: HttpRequest) -> HttpResponse:
    """Delete all the user's conversations once they typed the confirmation word."""
    if not confirmed(request.POST.get("confirm", "")):
        messages.error(
            request,
            gettext("Nothing deleted: type “%(word)s” to confirm.") % {"word": CONFIRMATION},
        )
    else:
        recent = list(
            Thread.objects.filter(owner_id=request.user.pk)
            .order_by("-updated_at")
            .values_list("pk", flat=True)[:NOTIFIED_THREADS]
        )
        counts = purge(Selection(owner_id=request.user.pk), dry_run=False)
        for thread_id in recent:
            async_to_sync(notify_user)(
                request.user.pk, {"type": "thread.deleted", "thread_id": thread_id}
            )
        messages.success(request, deleted_message(counts))
    return HttpResponseRedirect(reverse("my-data"))
