"""The admin's insights page and feedback review queue: who may open them, what they show
(figures per day, model and user; each rated answer with the question before it, its page
and thread), the filters, the CSV, and that review statuses feed the insights."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.admin.utils import quote
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from chat import models
from chat.review import insights as insight
from tests import factories

pytestmark = pytest.mark.django_db

INSIGHTS = "/admin/chat/insights/"
QUEUE = "/admin/chat/feedback-review/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def usage(user, thread, model, tokens=(100, 50), first=300, duration=1200, days_ago=0):
    return factories.answer(
        user, thread, model=model, tokens=tokens, first_ms=first, duration_ms=duration,
        finished_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def rated(alice, bob):
    """Alice asked from a docs page and rated the answer down; bob rated his up."""
    thread = factories.make_thread(alice, "thr_a", title="Alice's question")
    question = factories.user_says(thread, "msg_q", "How do I double x?")
    models.ThreadItem.objects.filter(pk=question.pk).update(
        page={
            "url": "https://docs.example.com/math",
            "title": "Math guide",
            "selection": "x * 2",
        }
    )
    answer = factories.assistant_says(thread, "msg_a", "Use `return x * 2`.")
    models.Feedback.objects.create(item=answer, user=alice, kind="negative")
    usage(alice, thread, "gpt-4.1-mini")
    other = factories.make_thread(bob, "thr_b", title="Bob's")
    factories.user_says(other, "msg_bq", "Hi")
    bob_answer = factories.assistant_says(other, "msg_ba", "Hello Bob")
    models.Feedback.objects.create(item=bob_answer, user=bob, kind="positive")
    usage(bob, other, "demo", tokens=(10, 5), first=100, duration=400)
    models.Thread.objects.update(created_at=timezone.now())
    # Asked and answered today, by the time their turns ended (votes count on the day of
    # their answer).
    first_end = models.Turn.objects.earliest("finished_at").finished_at
    models.ThreadItem.objects.update(created_at=first_end)
    return thread


# --- who may open them -------------------------------------------------------------------


@pytest.mark.parametrize("url", [INSIGHTS, QUEUE])
def test_a_reviewer_opens_the_pages(reviewer, rated, url):
    response = logged_in(reviewer).get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("url", [INSIGHTS, QUEUE])
def test_staff_without_view_thread_are_refused(staff, url):
    assert logged_in(staff).get(url).status_code == 403


@pytest.mark.parametrize("url", [INSIGHTS, QUEUE])
def test_site_users_and_visitors_get_the_admin_login(alice, url):
    for client in (logged_in(alice), Client()):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_a_site_user_cannot_post_a_review(alice, rated):
    feedback = models.Feedback.objects.get(kind="negative")
    logged_in(alice).post(QUEUE, {"feedback": feedback.pk, "review_status": "reviewed"})
    assert models.Feedback.objects.get(pk=feedback.pk).review_status == "new"


def test_the_admin_index_links_the_pages_for_reviewers_only(reviewer, staff):
    body = logged_in(reviewer).get("/admin/").content.decode()
    assert INSIGHTS in body and QUEUE in body
    assert INSIGHTS not in logged_in(staff).get("/admin/").content.decode()


# --- insights ------------------------------------------------------------------------------


def test_insights_per_day_model_and_user(reviewer, rated, alice, settings):
    settings.CHAT_MODEL_PRICES = {"gpt-4.1-mini": [1.0, 2.0]}
    usage(alice, rated, "gpt-4.1-mini", tokens=(1000, 1000), first=500, duration=2000,
          days_ago=3)
    models.LimitRefusal.objects.create(user=alice, limit="rate")

    report = insight.insights(insight.default_filters())

    today = report.days[-1]
    assert today.messages == 2 and today.active_users == 2 and today.threads == 2
    assert today.tokens == 165
    assert today.positive == 1 and today.negative == 1 and today.refusals == 1
    assert report.days[-4].messages == 1 and report.days[-4].tokens == 2000
    assert report.days[-4].cost == pytest.approx((1000 * 1.0 + 1000 * 2.0) / 1e6)
    by_model = {group.name: group for group in report.models}
    assert by_model["gpt-4.1-mini"].messages == 2
    # Percentiles for all users come from histogram buckets: within the value's bucket.
    assert 300 <= by_model["gpt-4.1-mini"].first_token_p50 <= 500
    assert 500 <= by_model["gpt-4.1-mini"].first_token_p95 < 600
    assert 400 <= by_model["demo"].duration_p95 < 500
    assert report.unpriced == ["demo"]
    assert [group.name for group in report.users] == ["alice", "bob"]
    assert [group.threads for group in report.users] == [1, 1]
    assert 300 <= report.latency.first_token_p50 < 400
    # The finished day was summed once into the daily rollups.
    assert models.RolledUpDay.objects.count() == 29
    assert models.UsageDay.objects.get().turns == 1
    assert report.refusals == {"Message rate": 1}


def test_a_vote_counts_on_the_day_of_the_answer_it_rates(rated, alice):
    """Yesterday's answer rated this morning: yesterday had one answer and one rated,
    today's share of rated answers is not pushed past all of today's answers."""
    thread = factories.make_thread(alice, "thr_late", title="Late vote")
    late = factories.assistant_says(thread, "msg_late", "Last night's answer")
    yesterday = timezone.now() - timedelta(days=1)
    models.ThreadItem.objects.filter(pk=late.pk).update(created_at=yesterday)
    usage(alice, thread, "gpt-4.1-mini", days_ago=1)
    models.Feedback.objects.create(item=late, user=alice, kind="positive")

    days = insight.insights(insight.default_filters()).days

    assert (days[-2].messages, days[-2].positive, days[-2].feedback_rate) == (1, 1, 1.0)
    assert (days[-1].messages, days[-1].positive + days[-1].negative) == (2, 2)
    assert max(day.feedback_rate or 0 for day in days) <= 1


def test_one_users_figures_are_exact(rated, alice):
    usage(alice, rated, "gpt-4.1-mini", first=500, days_ago=3)
    filters = insight.Filters(*insight.default_filters().days[::29], user_id=alice.pk)
    report = insight.insights(filters)
    assert [group.name for group in report.users] == ["alice"]
    assert report.models[0].first_token_p50 == pytest.approx(400)
    assert report.models[0].first_token_p95 == pytest.approx(490)
    assert sum(day.messages for day in report.days) == 2


def test_a_finished_day_is_summed_once_and_today_stays_live(rated, alice):
    usage(alice, rated, "gpt-4.1-mini", tokens=(7, 3), days_ago=1)
    first = insight.insights(insight.default_filters())
    assert first.days[-2].tokens == 10
    # A row written for a finished day after it was summed (it cannot happen: rows are
    # stamped when written) is not read again; a new answer today is.
    usage(alice, rated, "gpt-4.1-mini", tokens=(1000, 0), days_ago=1)
    usage(alice, rated, "gpt-4.1-mini", tokens=(5, 5))
    second = insight.insights(insight.default_filters())
    assert second.days[-2].tokens == 10
    assert second.days[-1].tokens == first.days[-1].tokens + 10


def test_the_page_shows_figures_charts_and_filters_by_user(reviewer, rated):
    client = logged_in(reviewer)
    body = client.get(INSIGHTS).content.decode()
    assert body.count("<svg") >= 5
    assert "gpt-4.1-mini" in body and "alice" in body and "bob" in body

    only_bob = client.get(INSIGHTS, {"user": "bob"}).content.decode()
    assert "gpt-4.1-mini" not in only_bob and "demo" in only_bob


def test_bad_filters_are_named_not_a_crash(reviewer, rated):
    body = logged_in(reviewer).get(INSIGHTS, {"start": "soon", "user": "nobody"}).content
    assert b"Dates are YYYY-MM-DD" in body
    body = logged_in(reviewer).get(INSIGHTS, {"user": "nobody"}).content
    assert b"No user named" in body


def test_csv_download_has_a_row_per_day(reviewer, rated):
    today = timezone.localdate()
    response = logged_in(reviewer).get(
        INSIGHTS,
        {"start": (today - timedelta(days=6)).isoformat(), "end": today.isoformat(),
         "format": "csv"},
    )
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 7
    assert rows[-1]["day"] == today.isoformat()
    assert rows[-1]["messages"] == "2" and rows[-1]["feedback_negative"] == "1"
    assert rows[-1]["feedback_rate"] == "1.000" and rows[0]["feedback_rate"] == ""


def test_a_chart_label_from_a_user_is_text_not_markup():
    from chat.review.charts import Series, bar_chart

    svg = str(bar_chart("<script>x</script>", ["<b>"], [Series("<i>", [1])]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "<b>" not in svg


# --- the review queue ------------------------------------------------------------------------


def test_each_rated_answer_comes_with_its_question_page_and_thread(reviewer, rated):
    body = logged_in(reviewer).get(QUEUE).content.decode()
    assert "How do I double x?" in body
    assert "Use `return x * 2`." in body
    assert 'href="https://docs.example.com/math"' in body and "Math guide" in body
    assert "x * 2</blockquote>" in body
    thread_page = reverse("admin:chat_thread_change", args=[quote("thr_a")])
    assert f'href="{thread_page}#item-msg_a"' in body
    assert "gpt-4.1-mini" in body


def test_filters_by_status_kind_model_and_date(reviewer, rated):
    client = logged_in(reviewer)
    negative = client.get(QUEUE, {"kind": "negative"}).content.decode()
    assert "How do I double x?" in negative and "Hello Bob" not in negative
    demo = client.get(QUEUE, {"model": "demo"}).content.decode()
    assert "Hello Bob" in demo and "How do I double x?" not in demo
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert "No rated answers match" in client.get(QUEUE, {"start": tomorrow}).content.decode()
    assert "No rated answers match" in client.get(
        QUEUE, {"status": "needs_fix"}
    ).content.decode()


def test_a_reviewer_sets_status_and_note_and_the_counts_feed_insights(reviewer, rated):
    client = logged_in(reviewer)
    feedback = models.Feedback.objects.get(kind="negative")
    response = client.post(
        QUEUE,
        {
            "feedback": feedback.pk,
            "review_status": "needs_fix",
            "review_note": "Wrong operator",
            "query": "kind=negative",
        },
    )
    assert response.status_code == 302 and response["Location"] == QUEUE + "?kind=negative"
    feedback.refresh_from_db()
    assert feedback.review_status == "needs_fix" and feedback.review_note == "Wrong operator"
    assert feedback.reviewed_by == reviewer

    listed = client.get(QUEUE, {"status": "needs_fix"}).content.decode()
    assert "How do I double x?" in listed and "Wrong operator" in listed
    report = insight.insights(insight.default_filters())
    assert report.reviews == {"New": 1, "Reviewed": 0, "Needs fix": 1}
    assert "Needs fix" in client.get(INSIGHTS).content.decode()


def test_an_unknown_status_is_not_saved(reviewer, rated):
    feedback = models.Feedback.objects.get(kind="negative")
    logged_in(reviewer).post(QUEUE, {"feedback": feedback.pk, "review_status": "done"})
    assert models.Feedback.objects.get(pk=feedback.pk).review_status == "new"


@pytest.mark.parametrize("rating_id", ["abc", "²", "1.5", ""])
def test_a_rating_id_that_is_not_a_number_is_not_saved_nor_a_crash(reviewer, rated, rating_id):
    response = logged_in(reviewer).post(
        QUEUE, {"feedback": rating_id, "review_status": "reviewed"}
    )
    assert response.status_code == 302
    assert not models.Feedback.objects.exclude(review_status="new").exists()


def test_staff_who_may_only_read_see_the_queue_but_cannot_judge(staff, rated):
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="chat", codename__in=["view_thread", "view_feedback"]
    ))
    client = logged_in(staff)
    feedback = models.Feedback.objects.get(kind="negative")
    models.Feedback.objects.filter(pk=feedback.pk).update(review_note="Checked by Rita")

    page = client.get(QUEUE).content.decode()
    response = client.post(QUEUE, {"feedback": feedback.pk, "review_status": "reviewed"})

    assert "How do I double x?" in page and "Checked by Rita" in page
    assert "Save review" not in page and 'name="review_status"' not in page
    assert response.status_code == 403
    assert models.Feedback.objects.get(pk=feedback.pk).review_status == "new"


def test_rollup_usage_sums_finished_days_once(rated, alice):
    from io import StringIO

    from django.core.management import call_command

    usage(alice, rated, "gpt-4.1-mini", days_ago=2)
    out = StringIO()
    call_command("rollup_usage", "--days", "7", stdout=out)
    assert out.getvalue().strip() == "Days summed: 7 (of the last 7 finished days)."
    assert models.UsageDay.objects.get().turns == 1
    out = StringIO()
    call_command("rollup_usage", "--days", "7", stdout=out)
    assert out.getvalue().strip() == "Days summed: 0 (of the last 7 finished days)."


def test_summing_finished_days_takes_the_same_queries_for_a_week_or_a_quarter(alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat.review import rollup

    today = timezone.localdate()
    for days_ago in range(1, 91):
        usage(alice, None, "gpt-4.1", days_ago=days_ago)

    with CaptureQueriesContext(connection) as week:
        rollup.ensure_rolled_up([today - timedelta(days=n) for n in range(1, 8)], today)
    models.RolledUpDay.objects.all().delete()
    with CaptureQueriesContext(connection) as quarter:
        rollup.ensure_rolled_up([today - timedelta(days=n) for n in range(1, 91)], today)

    assert len(week) == len(quarter)
    summed = dict(models.UsageDay.objects.values_list("day", "turns"))
    assert summed == {today - timedelta(days=n): 1 for n in range(1, 91)}
    assert models.LatencyDay.objects.filter(metric="duration").count() == 90


def test_days_between_the_missing_ones_keep_their_sums(alice):
    from chat.review import rollup

    today = timezone.localdate()
    first, middle, last = (today - timedelta(days=n) for n in (5, 4, 3))
    rollup.ensure_rolled_up([middle], today)  # nothing that day: summed as empty
    usage(alice, None, "gpt-4.1", days_ago=5)
    usage(alice, None, "gpt-4.1", days_ago=4)  # came after its day was summed
    usage(alice, None, "gpt-4.1", days_ago=3)

    summed = rollup.ensure_rolled_up([first, middle, last], today)

    assert summed == 2
    assert dict(models.UsageDay.objects.values_list("day", "turns")) == {first: 1, last: 1}


def test_a_late_evening_answer_is_summed_on_its_local_day(settings, alice):
    from datetime import datetime, time

    from chat.review import rollup

    settings.TIME_ZONE = "America/New_York"
    with timezone.override("America/New_York"):
        today = timezone.localdate()
        evening = today - timedelta(days=2)
        row = usage(alice, None, "gpt-4.1")
        local = datetime.combine(evening, time(23, 30), tzinfo=timezone.get_current_timezone())
        models.Turn.objects.filter(pk=row.pk).update(finished_at=local)

        rollup.ensure_rolled_up([evening, evening + timedelta(days=1)], today)

        assert list(models.UsageDay.objects.values_list("day", flat=True)) == [evening]
        assert models.RolledUpDay.objects.filter(time_zone="America/New_York").count() == 2


def test_bad_model_prices_stop_start_up(settings):
    from chat.checks import check_settings

    settings.CHAT_MODEL_PRICES = {"gpt-4.1": [1.0]}
    problems = [message for message in check_settings() if message.id == "chat.E010"]
    assert len(problems) == 1 and "CHAT_MODEL_PRICES" in problems[0].msg


def test_an_attachment_sent_but_never_uploaded_is_listed_as_failed(admin_client, alice):
    thread = factories.make_thread(alice, "thr_up")
    models.Attachment.objects.create(
        id="att_sent", owner=alice, thread=thread, name="sent.pdf",
        mime_type="application/pdf", data={},
    )
    models.Attachment.objects.create(
        id="att_wait", owner=alice, name="waiting.pdf", mime_type="application/pdf", data={}
    )
    rows = admin_client.get("/admin/chat/attachment/").content.decode()
    sent = rows[rows.index("sent.pdf"):]
    waiting = rows[rows.index("waiting.pdf"):]
    assert "upload failed" in sent[: sent.index("</tr>")]
    assert "Waiting for upload" in waiting[: waiting.index("</tr>")]
