"""Migrations 0010 to 0012: the usage rows become answered turns; quotas and insights count the
same answers after it as before, and the turns that existed get their thread's owner."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("chat", "0009_review_permission")]
AFTER = [("chat", "0012_turn_usage_required")]
WHEN = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def at_0009():
    apps = migrate(BEFORE)
    yield apps
    migrate(executor_leaf_nodes())


def executor_leaf_nodes():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_usage_rows_become_answered_turns(at_0009):
    User = at_0009.get_model("auth", "User")
    Thread = at_0009.get_model("chat", "Thread")
    Turn = at_0009.get_model("chat", "Turn")
    TokenUsage = at_0009.get_model("chat", "TokenUsage")
    alice = User.objects.create(username="alice-m")
    thread = Thread.objects.create(id="thr_m", owner=alice, created_at=WHEN, updated_at=WHEN)
    Turn.objects.create(
        id="turn_old", thread=thread, kind="threads.create", state="complete",
        started_at=WHEN, lease_expires_at=WHEN, finished_at=WHEN,
        input_tokens=10, output_tokens=20, model="gpt-4.1",
    )
    TokenUsage.objects.create(
        user=alice, thread=thread, input_tokens=10, output_tokens=20, model="gpt-4.1",
        first_token_ms=300, duration_ms=900,
    )
    TokenUsage.objects.create(user=alice, thread=None, input_tokens=5, output_tokens=6)
    TokenUsage.objects.update(created_at=WHEN)

    apps = migrate(AFTER)
    Turn = apps.get_model("chat", "Turn")

    old = Turn.objects.get(pk="turn_old")
    assert old.user_id == alice.pk and not old.answered
    answers = sorted(
        Turn.objects.filter(answered=True).values_list(
            "user_id", "thread_id", "input_tokens", "output_tokens", "model",
            "first_token_ms", "duration_ms", "finished_at", "state",
        ),
        key=lambda row: row[2],
    )
    assert answers == [
        (alice.pk, None, 5, 6, "", None, None, WHEN, "complete"),
        (alice.pk, "thr_m", 10, 20, "gpt-4.1", 300, 900, WHEN, "complete"),
    ]


def test_going_back_makes_the_answers_usage_rows_again(at_0009):
    User = at_0009.get_model("auth", "User")
    TokenUsage = at_0009.get_model("chat", "TokenUsage")
    alice = User.objects.create(username="alice-b")
    TokenUsage.objects.create(user=alice, input_tokens=5, output_tokens=6, model="demo")
    TokenUsage.objects.update(created_at=WHEN)
    migrate(AFTER)

    apps = migrate(BEFORE)

    TokenUsage = apps.get_model("chat", "TokenUsage")
    Turn = apps.get_model("chat", "Turn")
    assert list(TokenUsage.objects.values_list("user_id", "input_tokens", "model",
                                               "created_at")) == [(alice.pk, 5, "demo", WHEN)]
    assert not Turn.objects.exists()
