"""The ChatKit Store on the Django ORM.

Every query is filtered by `context.user`: a thread, item or attachment id that belongs to
someone else behaves exactly like one that does not exist (`NotFoundError`). Pages are
keyset pages (chat/chatkit/paging.py): ordered by `created_at` with a unique tie-break
(the thread id, or the item's insertion order), continued from a cursor. Creating, renaming
and deleting a thread is announced to the user's open tabs (chat/chatkit/broadcast.py).
"""

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from chatkit.store import NotFoundError, Store, StoreItemType, default_generate_id
from chatkit.types import (
    AssistantMessageItem,
    Attachment,
    ClientToolCallItem,
    HiddenContextItem,
    Page,
    SDKHiddenContextItem,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    WidgetItem,
)
from django.db import IntegrityError, router, transaction
from django.db.models import (
    Exists,
    OuterRef,
    QuerySet,
    TextField,
)
from django.db.models.functions import Cast
from django.utils import timezone
from pydantic import TypeAdapter

from chat import models
from chat.attachments.files import remove_files
from chat.attachments.store import attachment_adapter, resigned, with_fresh_urls
from chat.chatkit import history, turn_writes
from chat.chatkit.broadcast import notify_user
from chat.chatkit.paging import page_after, page_of
from chat.context import RequestContext
from chatsite import db

thread_item_adapter: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)

# A limit no page reaches: remembered items that are all of a thread's.
EVERY_ITEM = 2**31


def asked_from(item: ThreadItem, context: RequestContext) -> dict[str, Any]:
    """The page a user message was asked from (url, title, selected text), kept with the
    message for the admin transcript; nothing for other items or an empty context."""
    if item.type != "user_message":
        return {}
    page = dataclasses.asdict(context.page)
    return {"page": page} if any(page.values()) else {}


def aware(value: datetime) -> datetime:
    """The SDK stamps items with naive `datetime.now()`: local time, which Django sets to
    TIME_ZONE. Make it aware so it compares and stores correctly with USE_TZ=True."""
    if timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


def plain_text(item: ThreadItem) -> str:
    """The searchable, exportable text of an item; empty for items that carry none."""
    if isinstance(item, UserMessageItem):
        parts = [part.text for part in item.content]
        if item.quoted_text:
            parts.insert(0, f"> {item.quoted_text}")
        return "\n".join(part for part in parts if part)
    if isinstance(item, AssistantMessageItem):
        return "\n".join(part.text for part in item.content if part.text)
    if isinstance(item, ClientToolCallItem):
        return f"{item.name}({item.arguments})"
    if isinstance(item, WidgetItem):
        return item.copy_text or ""
    if isinstance(item, (HiddenContextItem, SDKHiddenContextItem)):
        return item.content if isinstance(item.content, str) else ""
    return ""


def thread_metadata(row: models.Thread) -> ThreadMetadata:
    return ThreadMetadata(
        id=row.id,
        title=row.title or None,
        created_at=row.created_at,
        status=row.status or {"type": "active"},
        metadata=row.metadata or {},
        allowed_image_domains=row.allowed_image_domains,
    )


def thread_item(row: models.ThreadItem) -> ThreadItem:
    return thread_item_adapter.validate_python({**row.data, "created_at": row.created_at})


def item_rows(rows: QuerySet, *more: str) -> QuerySet:
    """`rows` as (created_at, the item's JSON text, *more): pydantic parses the text
    itself, about six times faster than the database driver's JSON decoding and validating
    the dict."""
    return rows.annotate(data_text=Cast("data", TextField())).values_list(
        "created_at", "data_text", *more
    )


def thread_item_from(created_at: datetime, data_text: str) -> ThreadItem:
    item = thread_item_adapter.validate_json(data_text)
    item.created_at = created_at  # the row's column is the one pages are ordered by
    return item


def without_nul(value: Any) -> Any:
    """`value` with NUL characters removed: PostgreSQL stores none, in text or in JSON.

    Whether typed by a user or produced by a model, a NUL carries no meaning in a chat;
    dropping it here keeps both databases alike and never loses a message over it.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def item_fields(item: ThreadItem) -> dict[str, Any]:
    created_at = aware(item.created_at)
    item = item.model_copy(update={"created_at": created_at})
    return {
        "type": item.type,
        "created_at": created_at,
        "data": without_nul(item.model_dump(mode="json")),
        "text": without_nul(plain_text(item)),
    }


def delete_thread_rows(threads: QuerySet[models.Thread]) -> tuple[int, list[str]]:
    """Delete the threads' rows in one transaction; returns how many threads went and the
    stored files that are now to be removed."""
    with transaction.atomic(using=router.db_for_write(models.Thread)):
        files = list(
            models.Attachment.objects.filter(thread__in=threads).values_list("file", flat=True)
        )
        deleted, _ = threads.delete_with_dependents()
    return deleted, files


class DjangoStore(Store[RequestContext]):
    """Threads, items and attachments of one user at a time, through the ORM."""

    # The SDK's default ids carry 32 random bits; widen them so they stay unique at scale.
    def generate_thread_id(self, context: RequestContext) -> str:
        if context is not None and context.new_thread_id:
            return context.new_thread_id
        return f"{default_generate_id('thread')}{uuid.uuid4().hex[:16]}"

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: RequestContext
    ) -> str:
        return f"{default_generate_id(item_type)}{uuid.uuid4().hex[:16]}"

    def generate_attachment_id(self, mime_type: str, context: RequestContext) -> str:
        return f"{default_generate_id('attachment')}{uuid.uuid4().hex[:16]}"

    # --- scoping -----------------------------------------------------------------------
    @staticmethod
    def threads(context: RequestContext) -> QuerySet[models.Thread]:
        return models.Thread.objects.filter(owner_id=context.user_id)

    @staticmethod
    def items(thread_id: str, context: RequestContext) -> QuerySet[models.ThreadItem]:
        return models.ThreadItem.objects.filter(
            thread_id=thread_id, thread__owner_id=context.user_id
        )

    @staticmethod
    def attachments(context: RequestContext) -> QuerySet[models.Attachment]:
        return models.Attachment.objects.filter(owner_id=context.user_id)

    def prove_thread(self, thread_id: str, context: RequestContext) -> None:
        """Prove the thread is the user's before writing to it: free when this request
        already loaded it (the endpoint authorises every request up front), one query
        otherwise. Its `updated_at` is written once per turn (`record_usage`)."""
        if thread_id in context.memo.threads:
            return
        if not self.threads(context).filter(pk=thread_id).update(updated_at=timezone.now()):
            raise NotFoundError(f"Thread {thread_id} not found")

    @staticmethod
    def items_changed(thread_id: str, context: RequestContext) -> None:
        context.memo.newest_items.pop(thread_id, None)

    # --- threads -----------------------------------------------------------------------
    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        """The user's thread; read once per request (authorising the request reads it,
        the SDK reads it again)."""
        known = context.memo.threads.get(thread_id)
        if known is None:
            known = await db.run(self.load_thread_row, thread_id, context)
            context.memo.threads[thread_id] = known
        return known.model_copy(deep=True)

    def load_thread_row(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        """The thread, noting whether a turn of it is still recorded as running: a new
        turn has to close such a turn first, and usually need not look."""
        if context.memo.items_with_thread:
            known = self.load_thread_with_items(thread_id, context.memo.items_with_thread, context)
            if known is not None:
                return known
        running = models.Turn.objects.filter(
            thread_id=OuterRef("pk"), state=models.Turn.State.RUNNING
        )
        row = self.threads(context).filter(pk=thread_id).annotate(
            turn_left_running=Exists(running)
        ).first()
        if row is None:
            raise NotFoundError(f"Thread {thread_id} not found")
        context.memo.turn_left_running[thread_id] = row.turn_left_running
        return thread_metadata(row)

    def load_thread_with_items(
        self, thread_id: str, limit: int, context: RequestContext
    ) -> ThreadMetadata | None:
        """The thread and its newest `limit` items in one query (chat/chatkit/history.py),
        remembered as `load_thread_items` would; None when the query finds no item (an
        empty thread, or not the user's: the thread alone is read then)."""
        found = history.newest(thread_id, context.user_id, limit)
        if found is None:
            return None
        context.memo.turn_left_running[thread_id] = found.turn_left_running
        data = [
            with_fresh_urls(thread_item_from(*item), context.user_id, context.base_url)
            for item in found.items[:limit]
        ]
        context.memo.newest_items[thread_id] = (limit, data, len(found.items) > limit)
        return thread_metadata(models.Thread(**found.thread))

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        metadata = ThreadMetadata.model_validate(thread.model_dump(exclude={"items"}))
        created = False
        if context.memo.threads.get(thread.id) != metadata:  # else the row holds it already
            created = await db.run(self.save_thread_row, metadata, context)
            if created:
                metadata.title = metadata.title or context.new_thread_title or None
                context.memo.turn_left_running[thread.id] = False  # nothing to close
                # All its items, none yet: its first turn's history need not be read.
                context.memo.newest_items[thread.id] = (EVERY_ITEM, [], False)
            context.memo.threads[thread.id] = metadata
        await notify_user(
            context.user_id,
            {
                "type": "thread.created" if created else "thread.updated",
                "thread_id": thread.id,
                "title": metadata.title or "",
            },
        )

    def save_thread_row(self, thread: ThreadMetadata, context: RequestContext) -> bool:
        """Update the user's thread, or create it; whether it was created."""
        # The SDK sometimes passes a full Thread (with items): persist the metadata only.
        fields = {
            "title": without_nul(thread.title or "")[:200],
            "status": thread.status.model_dump(mode="json"),
            "metadata": without_nul(thread.metadata),
            "allowed_image_domains": thread.allowed_image_domains,
        }
        # threads.create's thread (its id chosen up front) is new: insert it straight away,
        # titled from the message it was created with.
        is_new = thread.id == context.new_thread_id and thread.id not in context.memo.threads
        if is_new:
            fields["title"] = fields["title"] or without_nul(context.new_thread_title)[:200]
        elif self.threads(context).filter(pk=thread.id).update(**fields):
            return False
        try:
            models.Thread.objects.create(
                id=thread.id,
                owner_id=context.user_id,
                created_at=aware(thread.created_at),
                updated_at=timezone.now(),
                **fields,
            )
        except IntegrityError as exc:
            # The id exists but is not this user's: never touch another user's thread.
            raise NotFoundError(f"Thread {thread.id} not found") from exc
        return True

    @db.pooled
    def load_threads(
        self, limit: int, after: str | None, order: str, context: RequestContext
    ) -> Page[ThreadMetadata]:
        rows = self.threads(context)

        def anchor(thread_id: str) -> QuerySet:  # among the user's own threads only
            return rows.filter(pk=thread_id)

        page, has_more = page_after(rows, after, anchor, order, limit)
        last = (page[-1].created_at, page[-1].pk) if page else None
        return page_of([thread_metadata(row) for row in page], has_more, last)

    async def delete_thread(self, thread_id: str, context: RequestContext) -> None:
        threads = self.threads(context).filter(pk=thread_id)
        deleted, files = await db.run(delete_thread_rows, threads)
        context.memo.threads.pop(thread_id, None)
        self.items_changed(thread_id, context)
        if not deleted:
            raise NotFoundError(f"Thread {thread_id} not found")
        await notify_user(context.user_id, {"type": "thread.deleted", "thread_id": thread_id})
        # Files go after their rows, so a failure never leaves a row without its file.
        await db.run(remove_files, files)

    # --- items -------------------------------------------------------------------------
    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: str,
        context: RequestContext,
    ) -> Page[ThreadItem]:
        """A page of the user's thread (NotFoundError for anyone else's).

        The newest items are remembered until this request changes the thread: a turn
        reads its history, and the Agents SDK integration reads the newest two again.
        """
        newest = after is None and order == "desc"
        known = context.memo.newest_items.get(thread_id) if newest else None
        if known is not None and limit <= known[0]:
            data = [item.model_copy(deep=True) for item in known[1][:limit]]
            return page_of(data, known[2] or len(known[1]) > limit, None)
        data, has_more, last = await db.run(
            self.load_thread_item_rows, thread_id, after, limit, order, context
        )
        if newest:
            context.memo.newest_items[thread_id] = (limit, data, has_more)
        return page_of(data, has_more, last)

    async def newest_items_to_read(
        self, thread_id: str, limit: int, context: RequestContext
    ) -> list[ThreadItem]:
        """The thread's newest `limit` items, newest first, for a caller that only reads
        them (a turn's history, turned into the model's input): the items this request
        remembers are handed over as they are, not copied (`load_thread_items` copies
        them, since the SDK changes what it loads)."""
        known = context.memo.newest_items.get(thread_id)
        if known is not None and limit <= known[0]:
            return known[1][:limit]
        return (await self.load_thread_items(thread_id, None, limit, "desc", context)).data

    def load_thread_item_rows(
        self, thread_id: str, after: str | None, limit: int, order: str,
        context: RequestContext,
    ) -> tuple[list[ThreadItem], bool, tuple | None]:
        """The page's items, whether more follow, and the position of its last row."""
        rows = item_rows(self.items(thread_id, context), "id")

        def anchor(item_id: str) -> QuerySet:
            # Scoped by the thread alone: the rows it is compared with are this thread's,
            # and only when the thread is the user's.
            return models.ThreadItem.objects.filter(thread_id=thread_id, item_id=item_id)

        page, has_more = page_after(rows, after, anchor, order, limit)
        if not page and thread_id not in context.memo.threads:
            # An empty page proves nothing: tell an empty thread from someone else's.
            context.memo.threads[thread_id] = self.load_thread_row(thread_id, context)
        # Stored image previews carry expiring signatures: re-sign them on every load.
        data = [
            with_fresh_urls(thread_item_from(*row[:2]), context.user_id, context.base_url)
            for row in page
        ]
        return data, has_more, (page[-1][0], page[-1][2]) if page else None

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        known = context.memo.newest_items.pop(thread_id, None)
        fields = await db.run(self.add_thread_item_row, thread_id, item, context)
        if known is not None:
            self.remember_added(thread_id, known, fields, context)

    def add_thread_item_row(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> dict[str, Any]:
        """Insert the item; only a checkpoint of it (see checkpoints.py) may already exist,
        and is replaced. Returns the stored fields."""
        self.prove_thread(thread_id, context)
        fields = {**item_fields(item), **asked_from(item, context)}
        turn_writes.insert_item(thread_id, item.id, fields)
        return fields

    @staticmethod
    def remember_added(
        thread_id: str, known: tuple[int, list, bool], fields: dict[str, Any],
        context: RequestContext,
    ) -> None:
        """Put the newly stored item in front of the remembered newest items, as reading
        them again would return it, so the turn's history is not read again. Only when it
        sorts first (it is the newest row) and replaced no remembered item; otherwise the
        items are forgotten and read when next needed."""
        limit, data, has_more = known
        item = with_fresh_urls(
            thread_item_adapter.validate_python(
                {**fields["data"], "created_at": fields["created_at"]}
            ),
            context.user_id,
            context.base_url,
        )
        if data and (data[0].created_at > item.created_at or any(x.id == item.id for x in data)):
            return
        data = [item, *data]
        context.memo.newest_items[thread_id] = (limit, data[:limit], has_more or len(data) > limit)

    async def save_checkpoint(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        self.items_changed(thread_id, context)
        await db.run(self.save_checkpoint_row, thread_id, item, context)

    def save_checkpoint_row(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        """Save an unfinished item as it is so far, marked partial (not part of the Store
        contract; the thread is the request's own, proven before the turn started)."""
        fields = item_fields(item)
        updated = self.items(thread_id, context).filter(
            item_id=item.id, partial=True
        ).update(**fields)
        if not updated:
            models.ThreadItem.objects.create(
                thread_id=thread_id, item_id=item.id, partial=True, **fields
            )

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        self.items_changed(thread_id, context)
        await db.run(self.save_item_row, thread_id, item, context)

    def save_item_row(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        self.prove_thread(thread_id, context)
        fields = item_fields(item)
        updated = models.ThreadItem.objects.filter(
            thread_id=thread_id, item_id=item.id
        ).update(partial=False, **fields)
        if not updated:
            models.ThreadItem.objects.create(thread_id=thread_id, item_id=item.id, **fields)

    @db.pooled
    def load_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> ThreadItem:
        row = self.items(thread_id, context).filter(item_id=item_id).first()
        if row is None:
            raise NotFoundError(f"Item {item_id} not found")
        return with_fresh_urls(thread_item(row), context.user_id, context.base_url)

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        self.items_changed(thread_id, context)
        await db.run(self.items(thread_id, context).filter(item_id=item_id).delete)

    # --- attachments -------------------------------------------------------------------
    @db.pooled
    def save_attachment(self, attachment: Attachment, context: RequestContext) -> None:
        thread_id = attachment.thread_id
        if thread_id and not self.threads(context).filter(pk=thread_id).exists():
            raise NotFoundError(f"Thread {thread_id} not found")
        fields = {
            "name": attachment.name[:255],
            "mime_type": attachment.mime_type[:127],
            "thread_id": thread_id,
            "data": attachment.model_dump(mode="json"),
        }
        updated = self.attachments(context).filter(pk=attachment.id).update(**fields)
        if updated:
            return
        try:
            models.Attachment.objects.create(
                id=attachment.id, owner_id=context.user_id, **fields
            )
        except IntegrityError as exc:
            raise NotFoundError(f"Attachment {attachment.id} not found") from exc

    @db.pooled
    def load_attachment(self, attachment_id: str, context: RequestContext) -> Attachment:
        row = self.attachments(context).filter(pk=attachment_id).first()
        if row is None:
            raise NotFoundError(f"Attachment {attachment_id} not found")
        attachment = attachment_adapter.validate_python(row.data)
        return resigned(attachment, context.user_id, context.base_url)

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        files = await db.run(self.delete_attachment_row, attachment_id, context)
        # Files go after their rows, so a failure never leaves a row without its file.
        await db.run(remove_files, files)

    def delete_attachment_row(self, attachment_id: str, context: RequestContext) -> list[str]:
        rows = self.attachments(context).filter(pk=attachment_id)
        files = list(rows.values_list("file", flat=True))
        deleted, _ = rows.delete()
        if not deleted:
            raise NotFoundError(f"Attachment {attachment_id} not found")
        return files

    # --- feedback (not part of the Store contract, but scoped the same way) ------------
    @db.pooled
    def save_feedback(
        self, thread_id: str, item_ids: list[str], kind: str, context: RequestContext
    ) -> int:
        """Record the user's feedback on their own items; returns how many were marked."""
        item_pks = list(
            self.items(thread_id, context).filter(item_id__in=item_ids).values_list("pk", flat=True)
        )
        now = timezone.now()
        models.Feedback.objects.bulk_create(
            [
                models.Feedback(item_id=pk, user_id=context.user_id, kind=kind, created_at=now)
                for pk in item_pks
            ],
            update_conflicts=True,
            unique_fields=["item", "user"],
            update_fields=["kind", "created_at"],
        )
        return len(item_pks)

    # --- usage -------------------------------------------------------------------------
    @db.pooled
    def record_activity(
        self, thread_id: str, input_tokens: int, output_tokens: int, context: RequestContext
    ) -> None:
        """Record the turn's activity on the thread (`updated_at`, written once a turn)
        with its tokens added to the thread's running totals. The thread may have been
        deleted in another tab while the answer streamed: what the turn used is kept on
        the turn's own record (`Turn`, written when the turn ends), for quotas and
        accounting, either way."""
        turn_writes.add_activity(
            thread_id, context.user_id, timezone.now(), input_tokens, output_tokens
        )
