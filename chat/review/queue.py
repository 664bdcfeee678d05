"""The feedback review queue: rated answers with the question before them, the page it
was asked from and the model that answered, filtered, and the reviewer's verdict.

One query per page of the queue: the question, its page and the answering model are
correlated subqueries evaluated for the rows shown (the question is the thread's last user
message before the rated item, by insertion order; the model is that of the first turn
recorded after it).
"""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import F, JSONField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Left
from django.utils import timezone

from chat.models import Feedback, ThreadItem, Turn

EXCERPT_CHARS = 2000


@dataclass(frozen=True)
class QueueFilters:
    status: str = ""
    kind: str = ""
    model: str = ""
    start: date | None = None
    end: date | None = None


def parse_queue_filters(params: dict[str, str]) -> QueueFilters:
    """Filters from the query string; unknown values are ignored, as admin filters are."""

    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(params.get(name, ""))
        except ValueError:
            return None

    status = params.get("status", "")
    kind = params.get("kind", "")
    return QueueFilters(
        status=status if status in Feedback.ReviewStatus.values else "",
        kind=kind if kind in Feedback.Kind.values else "",
        model=params.get("model", "")[:100],
        start=day("start"),
        end=day("end"),
    )


def queue(filters: QueueFilters) -> QuerySet[Feedback]:
    """Rated answers, newest first, with what a reviewer needs beside each."""
    question = ThreadItem.objects.filter(
        thread=OuterRef("item__thread"), type="user_message", pk__lt=OuterRef("item_id")
    ).order_by("-pk")
    model = Turn.objects.answers().filter(
        thread=OuterRef("item__thread"), finished_at__gte=OuterRef("item__created_at")
    ).order_by("finished_at", "pk")
    rows = (
        Feedback.objects.select_related("user", "reviewed_by")
        .annotate(
            answer=Left("item__text", EXCERPT_CHARS),
            answer_type=F("item__type"),
            answer_ref=F("item__item_id"),
            thread_ref=F("item__thread_id"),
            thread_title=F("item__thread__title"),
            question=Left(Subquery(question.values("text")[:1]), EXCERPT_CHARS),
            question_page=Subquery(question.values("page")[:1], output_field=JSONField()),
            answer_model=Subquery(model.values("model")[:1]),
        )
        .order_by("-created_at", "-pk")
    )
    if filters.status:
        rows = rows.filter(review_status=filters.status)
    if filters.kind:
        rows = rows.filter(kind=filters.kind)
    if filters.model:
        rows = rows.filter(answer_model=filters.model)
    if filters.start:
        rows = rows.filter(created_at__date__gte=filters.start)
    if filters.end:
        rows = rows.filter(created_at__date__lte=filters.end)
    return rows


def review(feedback_id: Any, status: str, note: str, reviewer: Any) -> bool:
    """Set a rated answer's review status and note; False when there is no such feedback
    (or the id is not a number) or the status is not one of the choices."""
    if status not in Feedback.ReviewStatus.values or not str(feedback_id).isdecimal():
        return False
    updated = Feedback.objects.filter(pk=feedback_id).update(
        review_status=status,
        review_note=note.strip()[:5000],
        reviewed_by=reviewer,
        reviewed_at=timezone.now(),
    )
    return bool(updated)


def known_models(days: int = 90) -> list[str]:
    """Model names seen in recent answers (an indexed range), for the model filter."""
    since = timezone.now() - timedelta(days=days)
    names = (
        Turn.objects.answers().filter(finished_at__gte=since)
        .order_by()
        .values_list("model", flat=True)
        .distinct()
    )
    return sorted(name for name in names if name)
