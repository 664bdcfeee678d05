"""Staff review of conversations in Django admin.

Conversations are records: nobody edits them here, staff with `chat.view_thread` read them
as a transcript and export them, and only those with `chat.delete_thread` delete them
(items, feedback, attachments and stored files go too, through chat.retention).

The thread list stays fast on large tables: counts are correlated subqueries evaluated for
the rows on the page only, owners come in the same query, the full count is skipped, and
message-text search is an `IN` over the matching items (found through a trigram index on
PostgreSQL), so a thread matching in many items is listed once without DISTINCT.
"""

import io
import logging
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import quote, unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce, Left
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import content_disposition_header, urlencode
from django.utils.text import smart_split, unescape_string_literal

from chat.limits import parse_rate
from chat.models import Attachment, Feedback, QuotaOverride, Thread, ThreadItem, Turn
from chat.retention.purge import delete_threads, human_bytes, preview_delete, stop_answers
from chat.review.charts import Series, bar_chart
from chat.review.export import write_export
from chat.review.insights import as_csv, default_filters, insights, parse_filters
from chat.review.items import attachment_url, safe_link
from chat.review.queue import known_models, parse_queue_filters, queue, review
from chat.review.transcript import transcript

logger = logging.getLogger(__name__)

# Admin exports are built in memory; larger ones belong to `manage.py export_threads`.
ADMIN_EXPORT_MAX_THREADS = 1000

EXPORT_TYPES = {
    "json": ("application/json", "json"),
    "markdown": ("text/markdown; charset=utf-8", "md"),
}


def count_of(rows: QuerySet, group: str) -> Coalesce:
    """COUNT of `rows` (already correlated to the outer row with OuterRef) as a scalar
    subquery: evaluated per displayed row, with no join multiplying the outer query."""
    counted = rows.order_by().values(group).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def search_terms(search_term: str) -> list[str]:
    """Words of the search box, with quoted phrases kept whole (as Django admin does)."""
    terms = []
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1] and len(bit) > 1:
            bit = unescape_string_literal(bit)
        if bit:
            terms.append(bit)
    return terms


class FeedbackFilter(admin.SimpleListFilter):
    title = "feedback"
    parameter_name = "feedback"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("negative", "Has negative feedback"),
            ("positive", "Has positive feedback"),
            ("none", "No feedback"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        on_thread = Feedback.objects.filter(item__thread=OuterRef("pk"))
        if self.value() in (Feedback.Kind.NEGATIVE, Feedback.Kind.POSITIVE):
            return queryset.filter(Exists(on_thread.filter(kind=self.value())))
        if self.value() == "none":
            return queryset.filter(~Exists(on_thread))
        return queryset


class OwnerFilter(admin.SimpleListFilter):
    """Filter by owner without listing every user in the sidebar (there may be millions):
    the owner column links here, and the sidebar shows the chosen owner."""

    title = "owner"
    parameter_name = "owner"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        if not value:
            return []
        user_model = get_user_model()
        try:
            name = (
                user_model._default_manager.filter(pk=value)
                .values_list(user_model.USERNAME_FIELD, flat=True)
                .first()
            )
        except (ValueError, ValidationError):
            return []
        return [(value, name)] if name is not None else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        try:
            return queryset.filter(owner_id=self.value())
        except (ValueError, ValidationError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records are written by the chat, never by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Thread)
class ThreadAdmin(ReadOnlyAdmin):
    list_display = (
        "display_title",
        "owner_name",
        "item_total",
        "updated_at",
        "feedback_counts",
        "tokens_used",
    )
    list_display_links = ("display_title",)
    list_filter = (
        FeedbackFilter,
        ("updated_at", admin.DateFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
        OwnerFilter,
    )
    list_select_related = ("owner",)
    # No date_hierarchy: its links cost two scans of every matching thread per page view
    # (seconds at a million threads); the date filters above do the same job from an index.
    ordering = ("-updated_at", "-pk")
    search_fields = ("title", "owner__username", "owner__email")
    search_help_text = "Searches titles, owners' usernames and emails, and message text."
    show_full_result_count = False
    fields = (
        "id",
        "title",
        "owner",
        "created_at",
        "updated_at",
        "status",
        "metadata",
        "input_tokens",
        "output_tokens",
    )
    actions = ("export_json", "export_markdown")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Thread]:
        on_thread = Feedback.objects.filter(item__thread=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                item_count=count_of(ThreadItem.objects.filter(thread=OuterRef("pk")), "thread"),
                positive_count=count_of(on_thread.filter(kind="positive"), "item__thread"),
                negative_count=count_of(on_thread.filter(kind="negative"), "item__thread"),
                tokens=F("input_tokens") + F("output_tokens"),
            )
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Every word must match the title, the owner's username or email, or the text of
        one of the thread's items. Never spawns duplicates, so no DISTINCT is needed."""
        for term in search_terms(search_term):
            # Each kind of match is its own uncorrelated subquery: PostgreSQL finds the
            # matching titles and item texts once through their trigram indexes (migration
            # 0004) and the owners once, then checks each thread against three hashes
            # instead of matching text on every row.
            titled = Thread.objects.filter(title__icontains=term).values("pk")
            owners = (
                get_user_model()
                .objects.filter(Q(username__icontains=term) | Q(email__icontains=term))
                .values("pk")
            )
            in_items = ThreadItem.objects.filter(text__icontains=term).values("thread_id")
            queryset = queryset.filter(
                Q(pk__in=titled) | Q(owner_id__in=owners) | Q(pk__in=in_items)
            )
        return queryset, False

    # --- columns ------------------------------------------------------------------------
    @admin.display(description="title", ordering="title")
    def display_title(self, obj: Thread) -> str:
        return obj.title or f"(untitled {obj.pk})"

    @admin.display(description="owner", ordering="owner__username")
    def owner_name(self, obj: Thread) -> str:
        return format_html(
            '<a href="?owner={}" title="Show only this owner\'s threads">{}</a>',
            obj.owner_id,
            obj.owner.get_username(),
        )

    @admin.display(description="items", ordering="item_count")
    def item_total(self, obj: Thread) -> int:
        return obj.item_count

    @admin.display(description="feedback (+/−)")
    def feedback_counts(self, obj: Thread) -> str:
        return format_html(
            '<span title="positive">+{}</span> / <span title="negative">−{}</span>',
            obj.positive_count,
            obj.negative_count,
        )

    @admin.display(description="tokens used", ordering="tokens")
    def tokens_used(self, obj: Thread) -> int:
        return obj.tokens

    # --- the thread page ------------------------------------------------------------------
    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Thread | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context["transcript"] = transcript(obj)
            context["thread_attachments"] = [
                (row, attachment_url(row.pk), human_bytes(row.size))
                for row in Attachment.objects.filter(thread=obj).order_by("created_at", "pk")
            ]
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- export ---------------------------------------------------------------------------
    @admin.action(description="Export selected as JSON", permissions=["view"])
    def export_json(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self.export(request, queryset, "json")

    @admin.action(description="Export selected as Markdown", permissions=["view"])
    def export_markdown(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self.export(request, queryset, "markdown")

    def export(self, request: HttpRequest, queryset: QuerySet, fmt: str) -> HttpResponse | None:
        count = queryset.count()
        if count > ADMIN_EXPORT_MAX_THREADS:
            self.message_user(
                request,
                f"{count} threads are too many to export here (at most "
                f"{ADMIN_EXPORT_MAX_THREADS}); use `manage.py export_threads`.",
                messages.ERROR,
            )
            return None
        buffer = io.StringIO()
        write_export(queryset, fmt, buffer)
        content_type, extension = EXPORT_TYPES[fmt]
        filename = f"threads-{timezone.now():%Y%m%d-%H%M%S}.{extension}"
        # An audit trail: conversations are personal data.
        logger.info("%s exported %d thread(s) as %s", request.user.get_username(), count, fmt)
        return HttpResponse(
            buffer.getvalue().encode(),
            content_type=content_type,
            headers={"Content-Disposition": content_disposition_header(True, filename)},
        )

    # --- delete ---------------------------------------------------------------------------
    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        """Counts instead of Django's list of every related row, which for a long thread
        would be thousands of lines and queries. Deleting a thread needs only
        `chat.delete_thread`: its parts are not separately administered."""
        if isinstance(objs, QuerySet):
            threads = objs
        else:
            threads = Thread.objects.filter(pk__in=[obj.pk for obj in objs])
        counts = preview_delete(threads)
        model_count = {
            "threads": counts.threads,
            "items": counts.items,
            f"attachments ({human_bytes(counts.bytes)})": counts.attachments,
        }
        return [f"Thread: {obj}" for obj in objs], model_count, set(), []

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        """Django runs the delete in a transaction, and an answer being stopped still has
        to store what it has (on SQLite it would wait for that transaction): a confirmed
        delete stops the thread's answer first."""
        if request.method == "POST" and request.POST.get("post"):
            thread = self.get_object(request, unquote(object_id))
            if thread is not None and self.has_delete_permission(request, thread):
                stop_answers(Thread.objects.filter(pk=thread.pk))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request: HttpRequest, obj: Thread) -> None:
        delete_threads(Thread.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        # The delete action runs in no transaction of Django's.
        stop_answers(queryset)
        delete_threads(queryset)


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ("item_excerpt", "kind", "user", "created_at", "thread_link")
    list_filter = ("kind", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("user",)
    search_fields = ("user__username", "item__text")
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    fields = ("kind", "user", "created_at", "item_excerpt", "thread_link")
    readonly_fields = ("item_excerpt", "thread_link")

    EXCERPT_CHARS = 120

    def get_queryset(self, request: HttpRequest) -> QuerySet[Feedback]:
        # Only what the list shows of the item, never its full JSON.
        return (
            super()
            .get_queryset(request)
            .annotate(
                excerpt=Left("item__text", self.EXCERPT_CHARS + 1),
                item_ref=F("item__item_id"),
                item_type=F("item__type"),
                thread_ref=F("item__thread_id"),
                thread_title=F("item__thread__title"),
            )
        )

    @admin.display(description="item")
    def item_excerpt(self, obj: Feedback) -> str:
        text = obj.excerpt or ""
        if len(text) > self.EXCERPT_CHARS:
            text = text[: self.EXCERPT_CHARS - 1] + "…"
        return text or f"({obj.item_type})"

    @admin.display(description="thread")
    def thread_link(self, obj: Feedback) -> str:
        url = reverse("admin:chat_thread_change", args=[quote(obj.thread_ref)])
        return format_html(
            '<a href="{}#item-{}">{}</a>', url, obj.item_ref, obj.thread_title or obj.thread_ref
        )


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    """A list of uploads for reference; they are deleted with their thread or by
    `purge_threads`, which also removes the stored files."""

    list_display = ("name", "owner", "mime_type", "size", "upload_status", "created_at", "thread")
    list_filter = ("upload_state", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("owner", "thread")
    search_fields = ("name", "owner__username")
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    fields = (
        "id",
        "name",
        "owner",
        "thread",
        "mime_type",
        "size",
        "upload_state",
        "created_at",
        "download",
    )
    readonly_fields = ("download",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="upload", ordering="upload_state")
    def upload_status(self, obj: Attachment) -> str:
        """A pending upload that is already part of a sent message never arrived."""
        if obj.upload_state == Attachment.UploadState.PENDING and obj.thread_id:
            return "upload failed"
        return obj.get_upload_state_display()

    @admin.display(description="download")
    def download(self, obj: Attachment) -> str:
        return format_html('<a href="{}">{}</a>', attachment_url(obj.pk), obj.name)


@admin.register(Turn)
class TurnAdmin(ReadOnlyAdmin):
    """Every turn: the running ones first, then by when they ended, with what each used."""

    list_display = (
        "user", "thread", "state", "model", "input_tokens", "output_tokens", "duration_ms",
        "finished_at",
    )
    list_filter = ("state", "answered", "kind", ("finished_at", admin.DateFieldListFilter))
    list_select_related = ("user", "thread")
    search_fields = ("user__username",)
    ordering = (F("finished_at").desc(nulls_first=True), "-started_at")
    show_full_result_count = False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class QuotaOverrideForm(forms.ModelForm):
    """Names a user or a group (not both), with a rate the site can read."""

    class Meta:
        model = QuotaOverride
        fields = ["user", "group", "rate_limit", "max_concurrent_streams", "daily_token_quota"]

    def clean_rate_limit(self) -> str:
        text = self.cleaned_data["rate_limit"].strip()
        if text:
            try:
                parse_rate(text)
            except ValueError as error:
                raise forms.ValidationError(
                    f"{error}: use a rate like '20/min' or 'none'."
                ) from None
        return text

    def clean(self) -> dict:
        cleaned = super().clean()
        if bool(cleaned.get("user")) == bool(cleaned.get("group")):
            raise forms.ValidationError("Choose either a user or a group.")
        return cleaned


@admin.register(QuotaOverride)
class QuotaOverrideAdmin(admin.ModelAdmin):
    """Limits per user or group in place of the CHAT_* defaults (chat/limits.py)."""

    form = QuotaOverrideForm
    list_display = ["__str__", "rate_limit", "max_concurrent_streams", "daily_token_quota"]
    list_select_related = ["user", "group"]
    autocomplete_fields = ["user", "group"]
    search_fields = ["user__username", "group__name"]


# --- The back office: insights and the feedback review queue --------------------------------
# Pages of their own under /admin/chat/ (not model changelists; routed in chatsite/urls.py
# through `admin.site.admin_view`), for staff who may read conversations
# (`chat.view_thread`); other staff get 403, anyone else the admin login.

REVIEW_PERMISSION = "chat.view_thread"
# Setting a rating's review status and note (the "Conversation reviewers" group has it).
JUDGE_PERMISSION = "chat.review_feedback"
QUEUE_PAGE_SIZE = 25


def require_reviewer(request: HttpRequest) -> None:
    if not request.user.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied


def insights_view(request: HttpRequest) -> HttpResponse:
    """Usage per day, model and user, latency, feedback and refusals; `?format=csv` for
    the per-day table."""
    require_reviewer(request)
    params = request.GET
    try:
        filters = parse_filters(
            params.get("start", ""), params.get("end", ""), params.get("user", "").strip()
        )
        problem = ""
    except ValueError as error:
        filters, problem = default_filters(), str(error)
    report = insights(filters)
    if params.get("format") == "csv" and not problem:
        filename = f"insights-{filters.start}-{filters.end}.csv"
        return HttpResponse(
            as_csv(report),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": content_disposition_header(True, filename)},
        )
    labels = [day.day.strftime("%m-%d") for day in report.days]
    charts = [
        bar_chart("Messages", labels, [Series("messages", [d.messages for d in report.days])]),
        bar_chart("Active users", labels, [Series("users", [d.active_users for d in report.days])]),
        bar_chart("Tokens", labels, [Series("tokens", [d.tokens for d in report.days])]),
        bar_chart("Estimated cost (USD)", labels, [Series("USD", [d.cost for d in report.days])]),
        bar_chart(
            "Feedback",
            labels,
            [
                Series("positive", [d.positive for d in report.days], "chart-good"),
                Series("negative", [d.negative for d in report.days], "chart-bad"),
            ],
        ),
        bar_chart(
            "Refusals by limits",
            labels,
            [Series("refusals", [d.refusals for d in report.days], "chart-bad")],
        ),
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Chat insights",
        "report": report,
        "charts": charts,
        "problem": problem,
        "start": filters.start.isoformat(),
        "end": filters.end.isoformat(),
        "user_filter": params.get("user", "").strip(),
        "csv_query": urlencode({**params.dict(), "format": "csv"}),
        "queue_url": reverse("chat-feedback-review"),
    }
    return TemplateResponse(request, "admin/chat/insights.html", context)


def feedback_review_view(request: HttpRequest) -> HttpResponse:
    """Rated answers with the question before them; a POST sets one's status and note."""
    require_reviewer(request)
    may_judge = request.user.has_perm(JUDGE_PERMISSION)
    if request.method == "POST":
        if not may_judge:
            raise PermissionDenied
        saved = review(
            request.POST.get("feedback", ""),
            request.POST.get("review_status", ""),
            request.POST.get("review_note", ""),
            request.user,
        )
        if saved:
            messages.success(request, "Review saved.")
        else:
            messages.error(request, "Not saved: unknown rating or status.")
        query = request.POST.get("query", "")
        return HttpResponseRedirect(request.path + (f"?{query}" if query else ""))
    filters = parse_queue_filters(request.GET.dict())
    page = Paginator(queue(filters), QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        (
            row,
            reverse("admin:chat_thread_change", args=[quote(row.thread_ref)]),
            asked_from(row.question_page),
        )
        for row in page
    ]
    kept = {k: v for k, v in request.GET.dict().items() if k != "page"}
    context = {
        **admin.site.each_context(request),
        "title": "Feedback review",
        "page": page,
        "rows": rows,
        "filters": filters,
        "may_judge": may_judge,
        "statuses": Feedback.ReviewStatus.choices,
        "kinds": Feedback.Kind.choices,
        "models": known_models(),
        "query": urlencode(request.GET.dict()),
        "page_query": urlencode(kept),
        "insights_url": reverse("chat-insights"),
    }
    return TemplateResponse(request, "admin/chat/feedback_review.html", context)


def asked_from(page: Any) -> dict[str, str]:
    """The question's page context, with the URL only if it is an http(s) link."""
    page = page if isinstance(page, dict) else {}
    return {
        "url": safe_link(page.get("url")),
        "title": str(page.get("title") or ""),
        "selection": str(page.get("selection") or ""),
    }


def back_office_urls() -> list:
    """The insights page and the review queue, behind the admin's login (mounted before
    `admin.site.urls` in chatsite/urls.py)."""
    return [
        path("insights/", admin.site.admin_view(insights_view), name="chat-insights"),
        path(
            "feedback-review/",
            admin.site.admin_view(feedback_review_view),
            name="chat-feedback-review",
        ),
    ]
