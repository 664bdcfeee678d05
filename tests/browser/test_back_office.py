"""The back office in a real browser: a reviewer logs in and reads the insights page (charts
drawn, tables filled), the feedback review queue (the question before each rated answer,
its page) and a transcript; screenshots `back-office-*.png` go to `screenshot_dir`."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from chat import models
from tests import factories
from tests.browser.site import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def history(django_user_model):
    reviewer = django_user_model.objects.create_user("rita", password=PASSWORD, is_staff=True)
    reviewer.groups.add(factories.reviewers_group())
    users = [django_user_model.objects.create_user(name, password=PASSWORD)
             for name in ("alice", "bob", "carol")]
    now = timezone.now()
    for n, user in enumerate(users):
        thread = factories.make_thread(user, f"thr_{user.username}", title=f"{user} asks")
        question = factories.user_says(
            thread, f"{user}_q", "How do I double x?\n\ndef double(x):\n    return x + x"
        )
        models.ThreadItem.objects.filter(pk=question.pk).update(
            page={"url": "https://docs.example.com/math", "title": "Math guide",
                  "selection": "return x + x"}
        )
        answer = factories.assistant_says(
            thread, f"{user}_a", "Use multiplication:\n\n    return x * 2"
        )
        models.Feedback.objects.create(
            item=answer, user=user, kind="negative" if n % 2 else "positive"
        )
    threads = list(models.Thread.objects.order_by("pk"))
    rows = []
    for day in range(14):
        for n, user in enumerate(users[: 1 + day % 3]):
            rows.append(factories.answer(
                user, threads[n], model=["gpt-4.1-mini", "demo"][n % 2],
                tokens=(800 + 90 * day, 300 + 40 * n),
                first_ms=250 + 30 * n + day, duration_ms=1800 + 200 * n,
                finished_at=now - timedelta(days=len(rows) % 14),
            ))
    models.Thread.objects.update(created_at=now)
    for thread in threads:
        # Asked and answered by the time its latest turn ended (a vote counts on the day of
        # the answer it rates).
        latest = models.Turn.objects.filter(thread=thread).latest("finished_at").finished_at
        models.ThreadItem.objects.filter(thread=thread).update(created_at=latest)
    for limit in ("rate", "rate", "tokens", "streams"):
        models.LimitRefusal.objects.create(user=users[0], limit=limit)
    return reviewer


def test_a_reviewer_reads_insights_queue_and_transcript(open_site, history, screenshot_dir):
    site = open_site()
    site.login("rita", next_path="/admin/")
    page = site.page
    page.get_by_role("link", name="Insights").click()
    page.wait_for_load_state()
    assert page.locator("svg.chat-chart").count() == 6
    assert page.locator("svg.chat-chart rect").count() > 20
    assert page.get_by_role("cell", name="gpt-4.1-mini").is_visible()
    page.screenshot(path=screenshot_dir / "back-office-insights.png", full_page=True)

    page.get_by_role("link", name="Feedback review queue").click()
    page.wait_for_load_state()
    items = page.locator("article.bo-item")
    assert items.count() == 3
    first = items.first
    assert "How do I double x?" in first.locator(".bo-question").inner_text()
    assert "    return x + x" in first.locator(".bo-question").inner_text()
    assert first.get_by_role("link", name="Math guide").is_visible()
    first.locator("select[name=review_status]").select_option("needs_fix")
    first.locator("textarea[name=review_note]").fill("Explain why x * 2 is the same.")
    with page.expect_navigation():
        first.get_by_role("button", name="Save review").click()
    assert page.get_by_text("Review saved.").is_visible()
    page.screenshot(path=screenshot_dir / "back-office-queue.png", full_page=True)

    page.locator("article.bo-item").first.locator(".bo-item-head a").click()
    page.wait_for_load_state()
    message = page.locator(".chat-turn.chat-user").first
    assert "    return x + x" in message.locator(".chat-text").inner_text()
    assert message.get_by_role("link", name="Math guide").is_visible()
    page.screenshot(path=screenshot_dir / "back-office-transcript.png", full_page=True)

    site.goto("/admin/chat/turn/")  # what each answer used, newest first
    rows = page.locator("#result_list tbody tr")
    assert rows.count() > 10
    assert "gpt-4.1-mini" in rows.first.inner_text() or "demo" in rows.first.inner_text()
    page.screenshot(path=screenshot_dir / "back-office-turns.png", full_page=True)


def test_a_user_downloads_and_deletes_their_data(open_site, history, screenshot_dir):
    site = open_site()
    site.login("alice", next_path="/")
    page = site.page
    page.get_by_role("link", name="My data").click()
    page.wait_for_load_state()
    assert "You have 1 conversation" in page.locator("#my-data-holdings").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Markdown").click()
    text = Path(download.value.path()).read_text()
    assert "alice asks" in text and "bob asks" not in text
    page.screenshot(path=screenshot_dir / "my-data.png", full_page=True)

    page.get_by_label("Type delete to confirm:").fill("delete")
    with page.expect_navigation():
        page.get_by_role("button", name="Delete all my conversations").click()
    assert "Deleted: 1 conversation (" in page.locator("ul.messages").inner_text()
    assert "You have 0 conversations" in page.locator("#my-data-holdings").inner_text()
    assert models.Thread.objects.filter(owner__username="bob").count() == 1
