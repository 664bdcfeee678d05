"""chat.chatkit.store.DjangoStore on the real database: the ChatKit Store contract, per-user
scoping, pagination with equal timestamps, upserts, time zones and query budgets.

Every async test uses `django_db(transaction=True)`: plain `django_db` does not roll back
writes made from async code. The query-budget tests are sync and drive the store through
`async_to_sync`, because pytest-django's query capture cannot see async ORM queries (they
run on another thread's connection).
"""

import base64
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from chatkit.store import NotFoundError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    EndOfTurnItem,
    FileAttachment,
    HiddenContextItem,
    ImageAttachment,
    InferenceOptions,
    LockedStatus,
    Page,
    SDKHiddenContextItem,
    Thread,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)
from django.db import IntegrityError
from django.utils import timezone

from chat import models
from chat.chatkit.store import DjangoStore
from chat.context import RequestContext
from tests.queries import queries_on_every_thread

pytestmark = pytest.mark.django_db(transaction=True)

store = DjangoStore()

# A fixed instant with microseconds, so precision loss would show.
T0 = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


# --- helpers ---------------------------------------------------------------------------


def as_user(user) -> RequestContext:
    return RequestContext(user=user)


def user_message(
    item_id: str,
    thread_id: str,
    text: str = "hello",
    created_at: datetime = T0,
    quoted_text: str | None = None,
) -> UserMessageItem:
    return UserMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=created_at,
        content=[UserMessageTextContent(text=text)],
        attachments=[],
        quoted_text=quoted_text,
        inference_options=InferenceOptions(),
    )


def assistant_message(
    item_id: str, thread_id: str, text: str = "hi there", created_at: datetime = T0
) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=created_at,
        content=[AssistantMessageContent(text=text)],
    )


async def new_thread(user, thread_id: str = "thr_1", created_at: datetime = T0, **fields):
    """Save a thread as `user` and return the metadata that was saved."""
    thread = ThreadMetadata(id=thread_id, created_at=created_at, **fields)
    await store.save_thread(thread, as_user(user))
    return thread


async def item_count(thread_id: str) -> int:
    return await models.ThreadItem.objects.filter(thread_id=thread_id).acount()


async def stored_text(thread_id: str, item_id: str) -> str:
    row = await models.ThreadItem.objects.aget(thread_id=thread_id, item_id=item_id)
    return row.text


async def page_through(
    load_page, limit: int, by_last_id: bool = False
) -> tuple[list[str], list[Page]]:
    """Follow `Page.after` from the first page until `has_more` is False (`by_last_id`:
    continue from the last id shown instead, as a client may). Returns the ids in the
    order served, and every page."""
    ids: list[str] = []
    pages: list[Page] = []
    after = None
    for _ in range(100):
        page = await load_page(after, limit)
        pages.append(page)
        ids += [row.id for row in page.data]
        if not page.has_more:
            return ids, pages
        after = page.data[-1].id if by_last_id else page.after
    raise AssertionError("pagination never reached has_more=False")


def assert_page_links(pages: list[Page], limit: int) -> None:
    """Full pages point at their last row's position; only the final page says there is
    no more."""
    for page in pages[:-1]:
        assert page.has_more
        assert len(page.data) == limit
        assert page.after.startswith("pos_")
    assert pages[-1].has_more is False
    assert pages[-1].after is None
    assert len(pages[-1].data) <= limit


# (id, created_at) in insertion order. Several rows share exactly the same timestamp, and
# ids are deliberately not in insertion order, so a wrong tie-break shows.
SECOND = timedelta(seconds=1)
PAGINATION_ROWS = [
    ("e", T0 + SECOND),
    ("g", T0),
    ("b", T0),
    ("a", T0 + 2 * SECOND),
    ("f", T0),
    ("c", T0 + SECOND),
    ("d", T0 - SECOND),
]


# --- threads ---------------------------------------------------------------------------


async def test_save_thread_creates_a_thread_that_loads_back(alice):
    await new_thread(alice, "thr_1", title="First", metadata={"topic": "tax"})

    loaded = await store.load_thread("thr_1", as_user(alice))

    assert loaded == ThreadMetadata(
        id="thr_1", created_at=T0, title="First", metadata={"topic": "tax"}
    )


async def test_save_thread_again_updates_title_status_and_metadata(alice):
    await new_thread(alice, "thr_1", title="First")

    await store.save_thread(
        ThreadMetadata(
            id="thr_1",
            created_at=T0,
            title="Renamed",
            status=LockedStatus(reason="read only"),
            metadata={"k": "v"},
        ),
        as_user(alice),
    )

    loaded = await store.load_thread("thr_1", as_user(alice))
    assert loaded.title == "Renamed"
    assert loaded.status == LockedStatus(reason="read only")
    assert loaded.metadata == {"k": "v"}
    assert await models.Thread.objects.acount() == 1


async def test_save_thread_given_a_full_thread_persists_metadata_only(alice):
    full = Thread(
        id="thr_1",
        created_at=T0,
        title="With items",
        items=Page(data=[user_message("msg_1", "thr_1")]),
    )

    await store.save_thread(full, as_user(alice))

    loaded = await store.load_thread("thr_1", as_user(alice))
    assert type(loaded) is ThreadMetadata
    assert loaded == ThreadMetadata(id="thr_1", created_at=T0, title="With items")
    assert await item_count("thr_1") == 0


async def test_save_thread_keeps_allowed_image_domains(alice):
    # The SDK sends allowed_image_domains to the client with every thread it returns.
    await new_thread(alice, "thr_1", allowed_image_domains=["images.example.com"])

    loaded = await store.load_thread("thr_1", as_user(alice))

    assert loaded.allowed_image_domains == ["images.example.com"]


async def test_load_thread_with_unknown_id_raises_not_found(alice):
    with pytest.raises(NotFoundError):
        await store.load_thread("thr_missing", as_user(alice))


async def test_load_thread_of_another_user_raises_not_found(alice, bob):
    await new_thread(alice, "thr_alice")

    with pytest.raises(NotFoundError):
        await store.load_thread("thr_alice", as_user(bob))


async def test_save_thread_with_another_users_id_raises_and_leaves_it_unchanged(alice, bob):
    original = await new_thread(alice, "thr_alice", title="Alice's", metadata={"a": 1})

    with pytest.raises(NotFoundError):
        await store.save_thread(
            ThreadMetadata(id="thr_alice", created_at=T0, title="Bob was here", metadata={}),
            as_user(bob),
        )

    assert await store.load_thread("thr_alice", as_user(alice)) == original
    row = await models.Thread.objects.aget(pk="thr_alice")
    assert row.owner_id == alice.pk


async def test_delete_thread_removes_it_and_its_items(alice):
    await new_thread(alice, "thr_1")
    await store.add_thread_item("thr_1", user_message("msg_1", "thr_1"), as_user(alice))
    await store.add_thread_item("thr_1", assistant_message("msg_2", "thr_1"), as_user(alice))

    await store.delete_thread("thr_1", as_user(alice))

    with pytest.raises(NotFoundError):
        await store.load_thread("thr_1", as_user(alice))
    assert await item_count("thr_1") == 0


async def test_a_page_of_zero_items_is_empty_and_says_more_follow(alice):
    await new_thread(alice, "thr_1")
    await store.add_thread_item("thr_1", user_message("msg_1", "thr_1"), as_user(alice))

    items = await store.load_thread_items("thr_1", None, 0, "asc", as_user(alice))
    threads = await store.load_threads(0, None, "desc", as_user(alice))

    assert (items.data, items.has_more, items.after) == ([], True, None)
    assert (threads.data, threads.has_more, threads.after) == ([], True, None)


async def test_delete_thread_of_another_user_raises_and_keeps_it(alice, bob):
    await new_thread(alice, "thr_alice")
    await store.add_thread_item("thr_alice", user_message("msg_1", "thr_alice"), as_user(alice))

    with pytest.raises(NotFoundError):
        await store.delete_thread("thr_alice", as_user(bob))

    assert (await store.load_thread("thr_alice", as_user(alice))).id == "thr_alice"
    assert await item_count("thr_alice") == 1


async def test_load_threads_never_returns_another_users_threads(alice, bob):
    for n in range(3):
        await new_thread(alice, f"thr_alice_{n}")
    await new_thread(bob, "thr_bob")

    for order in ("asc", "desc"):
        page = await store.load_threads(10, None, order, as_user(bob))
        assert [thread.id for thread in page.data] == ["thr_bob"]


async def test_load_threads_after_another_users_thread_is_empty(alice, bob):
    await new_thread(alice, "thr_alice")
    await new_thread(bob, "thr_bob", created_at=T0 + SECOND)

    page = await store.load_threads(10, "thr_alice", "asc", as_user(bob))

    assert page == Page(data=[], has_more=False, after=None)


# --- time zones ------------------------------------------------------------------------


@pytest.mark.parametrize("time_zone", ["UTC", "America/New_York", "Asia/Kolkata"])
async def test_naive_item_timestamp_is_stored_aware_as_the_same_instant(alice, settings, time_zone):
    # The SDK stamps items with a naive datetime.now(), local time in TIME_ZONE.
    settings.TIME_ZONE = time_zone
    await new_thread(alice, "thr_1")
    naive = datetime.now()

    await store.add_thread_item(
        "thr_1", user_message("msg_1", "thr_1", created_at=naive), as_user(alice)
    )

    loaded = await store.load_item("thr_1", "msg_1", as_user(alice))
    assert timezone.is_aware(loaded.created_at)
    assert loaded.created_at == timezone.make_aware(naive)
    assert abs(loaded.created_at - timezone.now()) < timedelta(minutes=1)
    listed = await store.load_thread_items("thr_1", None, 10, "asc", as_user(alice))
    assert listed.data[0].created_at == loaded.created_at


@pytest.mark.parametrize("time_zone", ["UTC", "America/New_York"])
async def test_naive_thread_timestamp_is_stored_aware_as_the_same_instant(
    alice, settings, time_zone
):
    settings.TIME_ZONE = time_zone
    naive = datetime.now()

    await new_thread(alice, "thr_1", created_at=naive)

    loaded = await store.load_thread("thr_1", as_user(alice))
    assert timezone.is_aware(loaded.created_at)
    assert loaded.created_at == timezone.make_aware(naive)
    assert abs(loaded.created_at - timezone.now()) < timedelta(minutes=1)


# --- pagination ------------------------------------------------------------------------


async def create_paginated_threads(user) -> dict[str, list[str]]:
    """Threads from PAGINATION_ROWS; returns the expected id order for each direction.
    Threads tie-break equal timestamps by id (they have no insertion counter)."""
    for suffix, created_at in PAGINATION_ROWS:
        await new_thread(user, f"thr_{suffix}", created_at=created_at)
    ascending = [f"thr_{s}" for s, at in sorted(PAGINATION_ROWS, key=lambda r: (r[1], r[0]))]
    return {"asc": ascending, "desc": ascending[::-1]}


async def create_paginated_items(user, thread_id: str) -> dict[str, list[str]]:
    """Items from PAGINATION_ROWS in insertion order; returns the expected id order for
    each direction: (created_at, insertion order) ascending, and its exact reverse."""
    await new_thread(user, thread_id)
    for suffix, created_at in PAGINATION_ROWS:
        item = user_message(f"msg_{suffix}", thread_id, created_at=created_at)
        await store.add_thread_item(thread_id, item, as_user(user))
    # sorted() is stable, so equal timestamps keep insertion order.
    ascending = [f"msg_{s}" for s, at in sorted(PAGINATION_ROWS, key=lambda r: r[1])]
    return {"asc": ascending, "desc": ascending[::-1]}


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 2, 3, 7, 10])
async def test_load_threads_pages_through_equal_timestamps_without_loss_or_repeat(
    alice, bob, order, limit
):
    expected = await create_paginated_threads(alice)
    await new_thread(bob, "thr_bob", created_at=T0)

    async def load_page(after, limit):
        return await store.load_threads(limit, after, order, as_user(alice))

    ids, pages = await page_through(load_page, limit)

    assert ids == expected[order]
    assert_page_links(pages, limit)
    by_id, _ = await page_through(load_page, limit, by_last_id=True)
    assert by_id == expected[order]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 2, 3, 7, 10])
async def test_load_thread_items_pages_through_equal_timestamps_without_loss_or_repeat(
    alice, order, limit
):
    expected = await create_paginated_items(alice, "thr_1")
    # Another thread's items at the same instants must not leak into the pages.
    await new_thread(alice, "thr_other")
    await store.add_thread_item("thr_other", user_message("msg_x", "thr_other"), as_user(alice))

    async def load_page(after, limit):
        return await store.load_thread_items("thr_1", after, limit, order, as_user(alice))

    ids, pages = await page_through(load_page, limit)

    assert ids == expected[order]
    assert_page_links(pages, limit)
    by_id, _ = await page_through(load_page, limit, by_last_id=True)
    assert by_id == expected[order]


def encoded(position: bytes) -> str:
    return "pos_" + base64.urlsafe_b64encode(position).decode()


@pytest.mark.parametrize(
    "after", ["pos_", "pos_!!", encoded(b"not a position"), encoded(b"x~1"), encoded(b"\xff~1")]
)
async def test_a_cursor_that_names_no_position_is_an_empty_page(alice, after):
    await create_paginated_items(alice, "thr_1")

    items = await store.load_thread_items("thr_1", after, 3, "asc", as_user(alice))
    threads = await store.load_threads(3, after, "asc", as_user(alice))

    assert items == threads == Page(data=[], has_more=False, after=None)


async def test_another_users_cursor_only_positions_a_page_of_the_users_own_threads(alice, bob):
    expected = await create_paginated_threads(alice)
    await new_thread(bob, "thr_bob1", created_at=T0)
    await new_thread(bob, "thr_bob2", created_at=T0 + SECOND)
    bobs = await store.load_threads(1, None, "asc", as_user(bob))

    page = await store.load_threads(50, bobs.after, "asc", as_user(alice))

    assert page.data and {thread.id for thread in page.data} < set(expected["asc"])


async def test_load_threads_with_unknown_after_returns_an_empty_page(alice):
    await create_paginated_threads(alice)

    for order in ("asc", "desc"):
        page = await store.load_threads(3, "thr_missing", order, as_user(alice))
        assert page == Page(data=[], has_more=False, after=None)


async def test_load_thread_items_with_unknown_after_returns_an_empty_page(alice):
    await create_paginated_items(alice, "thr_1")

    for order in ("asc", "desc"):
        page = await store.load_thread_items("thr_1", "msg_missing", 3, order, as_user(alice))
        assert page == Page(data=[], has_more=False, after=None)


async def test_load_thread_items_of_another_users_thread_is_not_found(alice, bob):
    await create_paginated_items(alice, "thr_alice")

    with pytest.raises(NotFoundError):
        await store.load_thread_items("thr_alice", None, 10, "asc", as_user(bob))


async def test_load_thread_items_of_an_empty_thread_is_an_empty_page(alice):
    await new_thread(alice, "thr_empty")

    page = await store.load_thread_items("thr_empty", None, 10, "asc", as_user(alice))

    assert page == Page(data=[], has_more=False, after=None)


# --- items -----------------------------------------------------------------------------


async def test_add_thread_item_inserts_an_item_that_loads_back(alice):
    await new_thread(alice, "thr_1")
    item = user_message("msg_1", "thr_1", text="What is VAT?")

    await store.add_thread_item("thr_1", item, as_user(alice))

    assert await store.load_item("thr_1", "msg_1", as_user(alice)) == item


async def test_add_thread_item_with_a_duplicate_id_raises(alice):
    await new_thread(alice, "thr_1")
    await store.add_thread_item("thr_1", user_message("msg_1", "thr_1", "first"), as_user(alice))

    with pytest.raises(IntegrityError):
        await store.add_thread_item(
            "thr_1", user_message("msg_1", "thr_1", "second"), as_user(alice)
        )

    assert await item_count("thr_1") == 1
    loaded = await store.load_item("thr_1", "msg_1", as_user(alice))
    assert loaded.content[0].text == "first"


async def test_same_item_id_may_exist_in_two_threads(alice):
    await new_thread(alice, "thr_1")
    await new_thread(alice, "thr_2")

    await store.add_thread_item("thr_1", user_message("msg_1", "thr_1", "one"), as_user(alice))
    await store.add_thread_item("thr_2", user_message("msg_1", "thr_2", "two"), as_user(alice))

    assert (await store.load_item("thr_1", "msg_1", as_user(alice))).content[0].text == "one"
    assert (await store.load_item("thr_2", "msg_1", as_user(alice))).content[0].text == "two"


async def test_save_item_inserts_a_new_item(alice):
    await new_thread(alice, "thr_1")
    item = assistant_message("msg_1", "thr_1", "Answer")

    await store.save_item("thr_1", item, as_user(alice))

    assert await store.load_item("thr_1", "msg_1", as_user(alice)) == item
    assert await item_count("thr_1") == 1


async def test_save_item_replaces_an_existing_item_in_place(alice):
    await new_thread(alice, "thr_1")
    await store.add_thread_item("thr_1", user_message("msg_0", "thr_1"), as_user(alice))
    await store.add_thread_item("thr_1", assistant_message("msg_1", "thr_1", "Ans"), as_user(alice))
    await store.add_thread_item("thr_1", user_message("msg_2", "thr_1"), as_user(alice))
    replacement = assistant_message("msg_1", "thr_1", "Answer, complete")

    await store.save_item("thr_1", replacement, as_user(alice))

    assert await store.load_item("thr_1", "msg_1", as_user(alice)) == replacement
    assert await models.ThreadItem.objects.filter(item_id="msg_1").acount() == 1
    assert await stored_text("thr_1", "msg_1") == "Answer, complete"
    page = await store.load_thread_items("thr_1", None, 10, "asc", as_user(alice))
    assert [item.id for item in page.data] == ["msg_0", "msg_1", "msg_2"]


async def test_load_item_with_unknown_id_raises_not_found(alice):
    await new_thread(alice, "thr_1")

    with pytest.raises(NotFoundError):
        await store.load_item("thr_1", "msg_missing", as_user(alice))


async def test_load_item_of_another_users_thread_raises_not_found(alice, bob):
    await new_thread(alice, "thr_alice")
    await store.add_thread_item("thr_alice", user_message("msg_1", "thr_alice"), as_user(alice))

    with pytest.raises(NotFoundError):
        await store.load_item("thr_alice", "msg_1", as_user(bob))


async def test_delete_thread_item_removes_only_that_item(alice):
    await new_thread(alice, "thr_1")
    await store.add_thread_item("thr_1", user_message("msg_1", "thr_1"), as_user(alice))
    await store.add_thread_item("thr_1", assistant_message("msg_2", "thr_1"), as_user(alice))

    await store.delete_thread_item("thr_1", "msg_1", as_user(alice))

    with pytest.raises(NotFoundError):
        await store.load_item("thr_1", "msg_1", as_user(alice))
    assert (await store.load_item("thr_1", "msg_2", as_user(alice))).id == "msg_2"


async def test_add_thread_item_to_another_users_thread_raises_and_writes_nothing(alice, bob):
    await new_thread(alice, "thr_alice")

    with pytest.raises(NotFoundError):
        await store.add_thread_item("thr_alice", user_message("msg_bob", "thr_alice"), as_user(bob))

    assert await item_count("thr_alice") == 0


async def test_save_item_to_another_users_thread_raises_and_writes_nothing(alice, bob):
    await new_thread(alice, "thr_alice")
    original = user_message("msg_1", "thr_alice", "Alice's words")
    await store.add_thread_item("thr_alice", original, as_user(alice))

    with pytest.raises(NotFoundError):
        await store.save_item(
            "thr_alice", user_message("msg_1", "thr_alice", "Bob's words"), as_user(bob)
        )
    with pytest.raises(NotFoundError):
        await store.save_item("thr_alice", user_message("msg_new", "thr_alice"), as_user(bob))

    assert await item_count("thr_alice") == 1
    assert await store.load_item("thr_alice", "msg_1", as_user(alice)) == original


async def test_delete_thread_item_of_another_user_leaves_it(alice, bob):
    await new_thread(alice, "thr_alice")
    await store.add_thread_item("thr_alice", user_message("msg_1", "thr_alice"), as_user(alice))

    await store.delete_thread_item("thr_alice", "msg_1", as_user(bob))

    assert (await store.load_item("thr_alice", "msg_1", as_user(alice))).id == "msg_1"


async def test_adding_an_item_marks_thread_activity(alice):
    await new_thread(alice, "thr_1")
    await models.Thread.objects.filter(pk="thr_1").aupdate(updated_at=T0)

    await store.add_thread_item("thr_1", user_message("msg_1", "thr_1"), as_user(alice))

    row = await models.Thread.objects.aget(pk="thr_1")
    assert row.updated_at > T0


# --- the plain `text` column -----------------------------------------------------------


async def add_item_and_read_text(user, item) -> str:
    await new_thread(user, item.thread_id)
    await store.add_thread_item(item.thread_id, item, as_user(user))
    return await stored_text(item.thread_id, item.id)


async def test_text_of_user_message_is_its_text(alice):
    item = user_message("msg_1", "thr_1", "How do I file?")

    assert await add_item_and_read_text(alice, item) == "How do I file?"


async def test_text_of_user_message_starts_with_the_quoted_text(alice):
    item = user_message("msg_1", "thr_1", "Explain this", quoted_text="Section 4(b)")

    assert await add_item_and_read_text(alice, item) == "> Section 4(b)\nExplain this"


async def test_text_of_assistant_message_joins_its_parts(alice):
    item = AssistantMessageItem(
        id="msg_1",
        thread_id="thr_1",
        created_at=T0,
        content=[
            AssistantMessageContent(text="First part."),
            AssistantMessageContent(text=""),
            AssistantMessageContent(text="Second part."),
        ],
    )

    assert await add_item_and_read_text(alice, item) == "First part.\nSecond part."


async def test_text_of_sdk_hidden_context_is_its_content(alice):
    item = SDKHiddenContextItem(
        id="shcx_1", thread_id="thr_1", created_at=T0, content="User cancelled the answer."
    )

    assert await add_item_and_read_text(alice, item) == "User cancelled the answer."


async def test_text_of_hidden_context_with_structured_content_is_empty(alice):
    item = HiddenContextItem(
        id="hc_1", thread_id="thr_1", created_at=T0, content={"page": "/pricing/"}
    )

    assert await add_item_and_read_text(alice, item) == ""


async def test_text_of_client_tool_call_names_the_call(alice):
    item = ClientToolCallItem(
        id="tc_1", thread_id="thr_1", created_at=T0, call_id="c1", name="lookup", arguments={}
    )

    assert await add_item_and_read_text(alice, item) == "lookup({})"


async def test_text_of_item_without_text_is_empty(alice):
    item = EndOfTurnItem(id="eot_1", thread_id="thr_1", created_at=T0)

    assert await add_item_and_read_text(alice, item) == ""


# --- attachments -----------------------------------------------------------------------


def file_attachment(attachment_id: str = "atc_file", **fields: Any) -> FileAttachment:
    return FileAttachment(
        id=attachment_id, name="report.pdf", mime_type="application/pdf", **fields
    )


def image_attachment(attachment_id: str = "atc_image", **fields: Any) -> ImageAttachment:
    return ImageAttachment(
        id=attachment_id,
        name="chart.png",
        mime_type="image/png",
        preview_url="http://testserver/x.png",
        **fields,
    )


@pytest.mark.parametrize("make", [file_attachment, image_attachment])
async def test_attachment_round_trip_save_load_delete(alice, make):
    attachment = make()

    await store.save_attachment(attachment, as_user(alice))
    loaded = await store.load_attachment(attachment.id, as_user(alice))
    assert loaded == attachment
    assert type(loaded) is type(attachment)

    await store.delete_attachment(attachment.id, as_user(alice))
    with pytest.raises(NotFoundError):
        await store.load_attachment(attachment.id, as_user(alice))


async def test_save_attachment_again_updates_it(alice):
    await new_thread(alice, "thr_1")
    await store.save_attachment(file_attachment(), as_user(alice))
    sent = file_attachment(thread_id="thr_1", metadata={"pages": 3})

    await store.save_attachment(sent, as_user(alice))

    assert await store.load_attachment("atc_file", as_user(alice)) == sent
    assert await models.Attachment.objects.acount() == 1


async def test_load_or_delete_missing_attachment_raises_not_found(alice):
    with pytest.raises(NotFoundError):
        await store.load_attachment("atc_missing", as_user(alice))
    with pytest.raises(NotFoundError):
        await store.delete_attachment("atc_missing", as_user(alice))


async def test_another_user_cannot_load_or_delete_an_attachment(alice, bob):
    attachment = image_attachment()
    await store.save_attachment(attachment, as_user(alice))

    with pytest.raises(NotFoundError):
        await store.load_attachment(attachment.id, as_user(bob))
    with pytest.raises(NotFoundError):
        await store.delete_attachment(attachment.id, as_user(bob))

    assert await store.load_attachment(attachment.id, as_user(alice)) == attachment


async def test_another_user_cannot_overwrite_an_attachment(alice, bob):
    original = file_attachment()
    await store.save_attachment(original, as_user(alice))
    await new_thread(bob, "thr_bob")

    with pytest.raises(NotFoundError):
        await store.save_attachment(
            FileAttachment(
                id=original.id, name="evil.exe", mime_type="text/plain", thread_id="thr_bob"
            ),
            as_user(bob),
        )

    assert await store.load_attachment(original.id, as_user(alice)) == original
    row = await models.Attachment.objects.aget(pk=original.id)
    assert (row.owner_id, row.thread_id, row.name) == (alice.pk, None, "report.pdf")


async def test_attachment_cannot_be_attached_to_another_users_thread(alice, bob):
    await new_thread(alice, "thr_alice")

    with pytest.raises(NotFoundError):
        await store.save_attachment(file_attachment(thread_id="thr_alice"), as_user(bob))

    assert await models.Attachment.objects.acount() == 0


# --- feedback --------------------------------------------------------------------------


async def feedback_rows() -> list[tuple[str, str, str, int]]:
    """(thread id, item id, kind, user pk) of every Feedback row."""
    return [
        row
        async for row in models.Feedback.objects.order_by(
            "item__thread_id", "item__item_id"
        ).values_list("item__thread_id", "item__item_id", "kind", "user_id")
    ]


async def test_save_feedback_marks_only_the_named_items_of_that_thread(alice):
    await new_thread(alice, "thr_1")
    await new_thread(alice, "thr_2")
    for thread_id in ("thr_1", "thr_2"):
        for item_id in ("msg_1", "msg_2"):
            item = assistant_message(item_id, thread_id)
            await store.add_thread_item(thread_id, item, as_user(alice))

    marked = await store.save_feedback(
        "thr_1", ["msg_1", "msg_missing"], "positive", as_user(alice)
    )

    assert marked == 1
    assert await feedback_rows() == [("thr_1", "msg_1", "positive", alice.pk)]


async def test_save_feedback_on_another_users_thread_marks_nothing(alice, bob):
    await new_thread(alice, "thr_alice")
    await store.add_thread_item(
        "thr_alice", assistant_message("msg_1", "thr_alice"), as_user(alice)
    )

    marked = await store.save_feedback("thr_alice", ["msg_1"], "negative", as_user(bob))

    assert marked == 0
    assert await feedback_rows() == []


async def test_save_feedback_twice_keeps_one_row_with_the_latest_kind(alice):
    await new_thread(alice, "thr_1")
    await store.add_thread_item("thr_1", assistant_message("msg_1", "thr_1"), as_user(alice))

    await store.save_feedback("thr_1", ["msg_1"], "positive", as_user(alice))
    await store.save_feedback("thr_1", ["msg_1"], "negative", as_user(alice))

    assert await feedback_rows() == [("thr_1", "msg_1", "negative", alice.pk)]


# --- token usage -----------------------------------------------------------------------


async def test_record_usage_adds_a_row_and_increments_thread_totals(alice):
    await new_thread(alice, "thr_1")

    await store.record_activity("thr_1", 10, 5, as_user(alice))
    await store.record_activity("thr_1", 3, 2, as_user(alice))

    thread = await models.Thread.objects.aget(pk="thr_1")
    assert (thread.input_tokens, thread.output_tokens) == (13, 7)
    assert thread.updated_at > T0


async def test_record_activity_by_another_user_leaves_thread_totals_alone(alice, bob):
    await new_thread(alice, "thr_alice")

    with contextlib.suppress(NotFoundError):
        await store.record_activity("thr_alice", 10, 5, as_user(bob))

    thread = await models.Thread.objects.aget(pk="thr_alice")
    assert (thread.input_tokens, thread.output_tokens) == (0, 0)


async def test_record_activity_for_a_deleted_thread_raises_no_database_error(alice):
    # The user may delete the thread (another tab) while its answer streams.
    await new_thread(alice, "thr_1")
    await store.delete_thread("thr_1", as_user(alice))

    with contextlib.suppress(NotFoundError):
        await store.record_activity("thr_1", 10, 5, as_user(alice))


# --- query budgets (sync tests: query capture only sees this thread's connection) ------

QUERY_BUDGET = 3


def make_threads(user, count: int, start: int = 0) -> None:
    models.Thread.objects.bulk_create(
        models.Thread(
            id=f"thr_{n:03}", owner=user, created_at=T0, updated_at=T0, status={"type": "active"}
        )
        for n in range(start, start + count)
    )


def make_items(thread_id: str, count: int, start: int = 0) -> None:
    models.ThreadItem.objects.bulk_create(
        models.ThreadItem(
            thread_id=thread_id,
            item_id=f"msg_{n:03}",
            type="assistant_message",
            created_at=T0,
            data=assistant_message(f"msg_{n:03}", thread_id).model_dump(mode="json"),
        )
        for n in range(start, start + count)
    )


def measure(call) -> tuple[int, Any]:
    """Run an async store call from sync code; returns (queries it made, its result)."""
    with queries_on_every_thread() as captured:
        result = async_to_sync(call)()
    assert len(captured) <= QUERY_BUDGET, captured
    return len(captured), result


@pytest.mark.parametrize("after", [None, "thr_000"])
def test_load_threads_query_count_does_not_grow_with_rows(alice, after):
    async def load():
        return await store.load_threads(100, after, "asc", as_user(alice))

    make_threads(alice, 5)
    few, page = measure(load)
    assert few > 0 and len(page.data) == (5 if after is None else 4)

    make_threads(alice, 45, start=5)
    many, page = measure(load)
    assert many == few and len(page.data) == (50 if after is None else 49)


@pytest.mark.parametrize("after", [None, "msg_000"])
def test_load_thread_items_query_count_does_not_grow_with_rows(alice, after):
    async def load():
        return await store.load_thread_items("thr_000", after, 100, "asc", as_user(alice))

    make_threads(alice, 1)
    make_items("thr_000", 5)
    few, page = measure(load)
    assert few > 0 and len(page.data) == (5 if after is None else 4)

    make_items("thr_000", 45, start=5)
    many, page = measure(load)
    assert many == few and len(page.data) == (50 if after is None else 49)


@pytest.mark.parametrize("load", ["items", "threads"])
def test_the_next_page_compares_with_the_cursors_values_and_reads_no_anchor_row(alice, load):
    """Why a page deep in a long thread costs what the first does: one query, with no
    subquery to find where the previous page ended."""
    make_threads(alice, 10)
    make_items("thr_000", 10)

    async def page(after):
        if load == "items":
            return await store.load_thread_items("thr_000", after, 3, "asc", as_user(alice))
        return await store.load_threads(3, after, "asc", as_user(alice))

    first = async_to_sync(page)(None)
    with queries_on_every_thread() as captured:
        second = async_to_sync(page)(first.after)

    [sql] = captured
    assert sql.upper().count("SELECT") == 1
    assert len(second.data) == 3 and second.data[0].id != first.data[-1].id


async def test_nul_characters_from_the_model_are_dropped_not_fatal(alice):
    context = as_user(alice)
    await new_thread(alice, "thr_nul")

    await store.add_thread_item(
        "thr_nul", assistant_message("msg_nul", "thr_nul", "a\x00b"), context
    )

    loaded = await store.load_item("thr_nul", "msg_nul", context)
    assert loaded.content[0].text == "ab"
    assert (await models.ThreadItem.objects.aget(item_id="msg_nul")).text == "ab"


# --- the thread read with its newest items (a new message's turn) ------------------------


def history_context(user, limit: int) -> RequestContext:
    context = as_user(user)
    context.memo.items_with_thread = limit
    return context


async def newest_ids(thread_id: str, limit: int, context: RequestContext) -> list[str]:
    page = await store.load_thread_items(thread_id, None, limit, "desc", context)
    return [item.id for item in page.data] + (["<more>"] if page.has_more else [])


async def test_history_read_with_the_thread_matches_a_fresh_read_after_adding(alice):
    await new_thread(alice)
    for n, (item_id, _) in enumerate(PAGINATION_ROWS):
        await store.add_thread_item(
            "thr_1", user_message(item_id, "thr_1", created_at=T0 + n * SECOND), as_user(alice)
        )
    context = history_context(alice, 4)
    await store.load_thread("thr_1", context)
    new = user_message("new", "thr_1", "the new \x00message", created_at=T0 + 60 * SECOND)

    with queries_on_every_thread() as queries:
        await store.add_thread_item("thr_1", new, context)
        remembered = await store.load_thread_items("thr_1", None, 4, "desc", context)

    fresh = await store.load_thread_items("thr_1", None, 4, "desc", as_user(alice))
    assert len(queries) == 1  # the insert: the history is not read again
    assert (remembered.data, remembered.has_more) == (fresh.data, fresh.has_more)
    # Remembered, the page continues from its last id; read, from its last row's position.
    after_remembered, after_fresh = [
        await store.load_thread_items("thr_1", page.after, 4, "desc", as_user(alice))
        for page in (remembered, fresh)
    ]
    assert after_remembered == after_fresh and after_fresh.data
    assert [item.id for item in remembered.data] == ["new", "d", "c", "f"]
    assert remembered.data[0].content[0].text == "the new message"


async def test_an_item_older_than_the_remembered_ones_makes_the_history_read_again(alice):
    await new_thread(alice)
    await store.add_thread_item("thr_1", user_message("m2", "thr_1", created_at=T0), as_user(alice))
    context = history_context(alice, 10)
    await store.load_thread("thr_1", context)

    older = user_message("m1", "thr_1", created_at=T0 - SECOND)
    await store.add_thread_item("thr_1", older, context)

    assert await newest_ids("thr_1", 10, context) == ["m2", "m1"]


async def test_a_thread_read_with_its_items_is_still_only_the_owners(alice, bob):
    await new_thread(alice)
    await store.add_thread_item("thr_1", user_message("m1", "thr_1"), as_user(alice))

    with pytest.raises(NotFoundError):
        await store.load_thread("thr_1", history_context(bob, 10))
    empty = await new_thread(alice, "thr_2", title="empty")
    assert (await store.load_thread("thr_2", history_context(alice, 10))).title == empty.title
