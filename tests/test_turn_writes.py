"""chat.chatkit.turn_writes: a turn's rows written as SQL hold what the ORM would store, on
both databases; an item replaces only its own checkpoint; the thread's activity is the
owner's alone."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError
from django.forms.models import model_to_dict

from chat import models
from chat.chatkit import turn_writes

pytestmark = pytest.mark.django_db

# Microseconds and a zone other than UTC: precision or zone loss would show.
T0 = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


@pytest.fixture
def thread(alice):
    return models.Thread.objects.create(id="thr_1", owner=alice, created_at=T0, updated_at=T0)


def stored(model, pk) -> dict:
    row = model.objects.get(pk=pk)
    return {field.attname: getattr(row, field.attname) for field in model._meta.concrete_fields}


def test_an_inserted_turn_is_the_row_the_orm_stores(alice, thread):
    values = {
        "user_id": alice.pk, "thread_id": thread.pk, "kind": "threads.add_user_message",
        "worker": "host:1", "started_at": T0, "lease_expires_at": T0 + timedelta(seconds=30),
    }
    models.Turn.objects.create(id="turn_orm", **values)

    turn_writes.insert(models.Turn, {"id": "turn_sql", **values})

    by_orm, by_sql = stored(models.Turn, "turn_orm"), stored(models.Turn, "turn_sql")
    assert by_sql == {**by_orm, "id": "turn_sql"}
    assert by_sql["state"] == models.Turn.State.RUNNING and by_sql["model"] == ""


def test_an_updated_turn_is_the_row_the_orm_stores(alice, thread):
    for pk in ("turn_orm", "turn_sql"):
        models.Turn.objects.create(
            id=pk, user=alice, thread=thread, kind="threads.create", started_at=T0,
            lease_expires_at=T0,
        )
    end = {
        "state": models.Turn.State.COMPLETE, "finished_at": T0 + timedelta(seconds=2),
        "answered": True, "input_tokens": 12, "output_tokens": 34, "model": "demo",
        "first_token_ms": 5, "duration_ms": 2000,
    }
    models.Turn.objects.filter(pk="turn_orm").update(**end)

    assert turn_writes.update(models.Turn, "turn_sql", end) == 1

    assert stored(models.Turn, "turn_sql") == {**stored(models.Turn, "turn_orm"), "id": "turn_sql"}
    assert turn_writes.update(models.Turn, "turn_missing", end) == 0


def test_an_insert_names_only_columns_of_its_model():
    with pytest.raises(TypeError, match="not columns of Turn"):
        turn_writes.insert(models.Turn, {"id": "turn_1", "owner": 1})


def item_fields(text: str, partial_page: dict | None = None) -> dict:
    data = {"id": "msg_1", "type": "assistant_message", "content": [{"text": text}]}
    fields = {"type": "assistant_message", "created_at": T0, "data": data, "text": text}
    return {**fields, "page": partial_page} if partial_page is not None else fields


def test_an_item_replaces_its_checkpoint(thread):
    models.ThreadItem.objects.create(
        thread=thread, item_id="msg_1", partial=True, **item_fields("Half an ans")
    )

    turn_writes.insert_item(thread.pk, "msg_1", item_fields("Half an answer, then all of it"))

    [row] = models.ThreadItem.objects.filter(thread=thread)
    assert (row.partial, row.text) == (False, "Half an answer, then all of it")
    assert row.data["content"] == [{"text": "Half an answer, then all of it"}]
    assert row.created_at == T0 and row.page == {}


def test_an_item_never_replaces_a_finished_one(thread):
    turn_writes.insert_item(thread.pk, "msg_1", item_fields("first"))

    with pytest.raises(IntegrityError):
        turn_writes.insert_item(thread.pk, "msg_1", item_fields("second"))

    [row] = models.ThreadItem.objects.filter(thread=thread)
    assert (row.partial, row.text) == (False, "first")


def test_the_same_item_id_may_be_in_two_threads(alice, thread):
    other = models.Thread.objects.create(id="thr_2", owner=alice, created_at=T0, updated_at=T0)

    turn_writes.insert_item(thread.pk, "msg_1", item_fields("one"))
    turn_writes.insert_item(other.pk, "msg_1", item_fields("two"))

    assert sorted(models.ThreadItem.objects.values_list("text", flat=True)) == ["one", "two"]


def test_an_item_keeps_its_page_and_json(thread):
    page = {"url": "https://example.com/a?b=1", "title": "Pricing ✓", "selection": ""}

    turn_writes.insert_item(thread.pk, "msg_1", item_fields('Say "hi" \\ ✓', page))

    row = models.ThreadItem.objects.get(thread=thread)
    assert row.page == page and row.data["content"] == [{"text": 'Say "hi" \\ ✓'}]
    assert models.ThreadItem.objects.filter(data__content__0__text='Say "hi" \\ ✓').exists()


def test_activity_is_added_to_the_owners_thread_only(alice, bob, thread):
    later = T0 + timedelta(minutes=5)

    turn_writes.add_activity(thread.pk, bob.pk, later, 100, 200)  # not bob's: nothing
    unchanged = models.Thread.objects.get(pk=thread.pk)
    turn_writes.add_activity(thread.pk, alice.pk, later, 10, 20)
    turn_writes.add_activity(thread.pk, alice.pk, later, 1, 2)

    assert (unchanged.updated_at, unchanged.input_tokens) == (T0, 0)
    row = models.Thread.objects.get(pk=thread.pk)
    assert (row.updated_at, row.input_tokens, row.output_tokens) == (later, 11, 22)
    assert model_to_dict(row)["title"] == model_to_dict(unchanged)["title"]
