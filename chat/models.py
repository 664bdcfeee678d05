"""Conversations as ChatKit sees them, stored in the ORM.

Each row keeps the full ChatKit JSON (`data`) so nothing the protocol sends is lost, plus
the columns the site needs to query, page, search, review and purge without parsing JSON.
"""

from django.conf import settings
from django.db import connections, models, router


class ThreadQuerySet(models.QuerySet):
    def delete_with_dependents(self) -> tuple[int, int]:
        """Delete these threads with their items, feedback and attachments rows (not their
        stored files: see `chat.attachments.files.remove_files`); returns how many threads
        and items went. Call it inside a transaction.

        A fixed number of statements, however long the threads: Django's delete collector
        would load every item to cascade to its feedback. Feedback goes first, then the
        items in one explicit SQL `DELETE`; the threads' own delete then goes through the
        collector, which loads only the thread rows, removes attachments and detaches
        turns (kept, with what they used, for accounting) with a statement each, and
        follows any relation added later. A future relation to ThreadItem fails with an
        IntegrityError rather than being skipped.
        """
        ids = list(self.values_list("pk", flat=True))
        if not ids:
            return 0, 0
        Feedback.objects.filter(item__thread_id__in=ids).delete()
        database = router.db_for_write(ThreadItem)
        connection = connections[database]
        quote = connection.ops.quote_name
        placeholders = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {quote(ThreadItem._meta.db_table)} "
                f"WHERE {quote(ThreadItem._meta.get_field('thread').column)} IN ({placeholders})",
                ids,
            )
            items = cursor.rowcount
        _, per_model = Thread.objects.filter(pk__in=ids).delete()
        return per_model.get(Thread._meta.label, 0), items


class Thread(models.Model):
    id = models.CharField(primary_key=True, max_length=64)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_threads"
    )
    title = models.CharField(max_length=200, blank=True, default="")
    status = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict, blank=True)
    allowed_image_domains = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(help_text="Last activity in the thread.")
    # Running totals of its turns' tokens, kept on the thread so lists need no aggregation.
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)

    objects = ThreadQuerySet.as_manager()

    class Meta:
        # `id` breaks created_at ties in pages; in the index, pages need no extra sort.
        indexes = [
            models.Index(fields=["owner", "created_at", "id"], name="chat_thread_owner_created"),
            models.Index(fields=["created_at"], name="chat_thread_created"),
            # The admin's list, newest activity first, and one owner's the same way.
            models.Index(fields=["updated_at", "id"], name="chat_thread_updated"),
            models.Index(fields=["owner", "updated_at"], name="chat_thread_owner_updated"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title or self.id


class ThreadItem(models.Model):
    # Context the SDK keeps for the model; never shown to the user as conversation.
    INTERNAL_TYPES = frozenset({"sdk_hidden_context", "hidden_context_item"})

    # The surrogate key records insertion order: the tie-break when timestamps are equal.
    id = models.BigAutoField(primary_key=True)
    item_id = models.CharField(max_length=64)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="items")
    type = models.CharField(max_length=40)
    created_at = models.DateTimeField()
    data = models.JSONField()
    text = models.TextField(blank=True, default="")
    # A checkpoint of an answer still streaming; one left after its turn ended was cut off
    # by a lost worker (chat/chatkit/checkpoints.py, chat/chatkit/recovery.py).
    partial = models.BooleanField(default=False)
    # The page a user message was asked from, as the client reported it (bounded by
    # chat.context.PAGE_LIMITS): {"url", "title", "selection"}; empty for other items.
    page = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["thread", "item_id"], name="chat_item_unique_per_thread"
            )
        ]
        indexes = [
            models.Index(fields=["thread", "created_at", "id"], name="chat_item_thread_created")
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.type} {self.item_id}"


class Attachment(models.Model):
    class UploadState(models.TextChoices):
        PENDING = "pending", "Waiting for upload"
        UPLOADED = "uploaded", "Uploaded"

    id = models.CharField(primary_key=True, max_length=64)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_attachments"
    )
    thread = models.ForeignKey(
        Thread, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    name = models.CharField(max_length=255, help_text="The client's file name, for display only.")
    mime_type = models.CharField(max_length=127)
    size = models.PositiveBigIntegerField(default=0)
    file = models.FileField(upload_to="chat/attachments/%Y/%m/", blank=True)
    data = models.JSONField(help_text="The ChatKit attachment JSON.")
    upload_state = models.CharField(
        max_length=16, choices=UploadState.choices, default=UploadState.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "created_at"], name="chat_attach_owner_created")]

    def __str__(self) -> str:
        return self.name


class Feedback(models.Model):
    class Kind(models.TextChoices):
        POSITIVE = "positive", "Positive"
        NEGATIVE = "negative", "Negative"

    item = models.ForeignKey(ThreadItem, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_feedback"
    )
    class ReviewStatus(models.TextChoices):
        NEW = "new", "New"
        REVIEWED = "reviewed", "Reviewed"
        NEEDS_FIX = "needs_fix", "Needs fix"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now=True)
    # Staff review of the rated answer (the feedback review queue in admin).
    review_status = models.CharField(
        max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.NEW
    )
    review_note = models.TextField(blank=True, default="")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_feedback_reviewed",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "user"], name="chat_feedback_once_per_user")
        ]
        indexes = [
            models.Index(fields=["created_at"], name="chat_feedback_created"),
            models.Index(fields=["review_status", "created_at"], name="chat_feedback_review"),
        ]
        # The review queue's form (chat/admin.py): reading feedback is `view_feedback`,
        # judging it is this; the admin's change form stays closed (ReadOnlyAdmin).
        permissions = [("review_feedback", "Can set the review status and note of ratings")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.item_id}"


class TurnQuerySet(models.QuerySet):
    def answers(self) -> "TurnQuerySet":
        """The turns the model answered, with what they used: one row per answer for
        quotas and the insights page, dated by `finished_at`, when its usage was written
        (a running turn has none yet)."""
        return self.filter(answered=True)


class Turn(models.Model):
    """One answer being produced, as a job of its own (see chat/chatkit/runner.py), and
    once it ends, the record of what it used.

    The row outlives the worker that ran it: `lease_expires_at` is pushed forward by the
    runner's heartbeat, so a turn still `running` past its lease lost its worker and is
    closed as interrupted (its partial answer, checkpointed, is kept). It also outlives
    its thread (which it then no longer names): the tokens a user spent count towards
    their quota and the accounts whatever they delete. The end of a turn is one update of
    this row: its state with its tokens, model and timings.
    """

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        STOPPED = "stopped", "Stopped by the user"
        INTERRUPTED = "interrupted", "Interrupted (worker lost or shut down)"
        FAILED = "failed", "Failed"

    id = models.CharField(primary_key=True, max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_turns"
    )
    thread = models.ForeignKey(
        Thread, null=True, blank=True, on_delete=models.SET_NULL, related_name="turns"
    )
    kind = models.CharField(max_length=40, help_text="The ChatKit request that started it.")
    state = models.CharField(max_length=12, choices=State.choices, default=State.RUNNING)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Whether the model answered in this turn (most actions run none): the turns that
    # count as answers, with their tokens, model and timings (`Turn.objects.answers()`).
    answered = models.BooleanField(default=False)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    # The model that answered (its CHAT_MODELS id, or CHAT_MODEL; "offline-demo" offline;
    # empty for a turn that ran none, and for answers recorded before models were).
    model = models.CharField(max_length=100, blank=True, default="")
    # How long the user waited for the answer's first text and for the whole answer
    # (None when unknown: answers recorded before these were).
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    objects = TurnQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["state", "lease_expires_at"], name="chat_turn_state_lease"),
            models.Index(fields=["thread", "started_at"], name="chat_turn_thread_started"),
            models.Index(fields=["user", "finished_at"], name="chat_turn_user_finished"),
            models.Index(fields=["finished_at"], name="chat_turn_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.state})"


class LimitRefusal(models.Model):
    """One message refused by a limit (429), for the insights page."""

    class Limit(models.TextChoices):
        RATE = "rate", "Message rate"
        TOKENS = "tokens", "Daily token quota"
        STREAMS = "streams", "Concurrent answers"
        THREAD = "thread", "Thread busy"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_refusals"
    )
    limit = models.CharField(max_length=16, choices=Limit.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="chat_refusal_created")]

    def __str__(self) -> str:
        return f"{self.limit} refusal"


# --- Daily rollups of answers for the insights page (chat/review/rollup.py) ------------------
# A finished day's usage never changes (answers are dated when their usage is written), so each day
# is summed once, the first time the insights page needs it, and read from here after.


class UsageDay(models.Model):
    """One user's answers with one model on one day (in the site's time zone)."""

    day = models.DateField()
    model = models.CharField(max_length=100, blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    turns = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "model", "user"], name="chat_usageday_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model}: {self.turns} answers"


class LatencyDay(models.Model):
    """How many answers of one model on one day took `bucket` ms or more (up to the next
    bucket): a histogram per metric, from which percentiles are read."""

    class Metric(models.TextChoices):
        FIRST_TOKEN = "first_token", "Time to first token"
        DURATION = "duration", "Answer duration"

    day = models.DateField()
    model = models.CharField(max_length=100, blank=True, default="")
    metric = models.CharField(max_length=12, choices=Metric.choices)
    bucket = models.PositiveIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "model", "metric", "bucket"], name="chat_latencyday_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model} {self.metric} >= {self.bucket} ms: {self.count}"


class RolledUpDay(models.Model):
    """A day whose usage is in UsageDay and LatencyDay, summed in `time_zone`."""

    day = models.DateField(primary_key=True)
    time_zone = models.CharField(max_length=64)
    rolled_up_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.day} ({self.time_zone})"


class QuotaOverride(models.Model):
    """Limits for one user or one group in place of the CHAT_* defaults (chat/limits.py).

    An empty field keeps the default. A user's own override wins; else, among the user's
    groups' overrides, the most generous value of each limit applies.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="chat_quota",
    )
    group = models.OneToOneField(
        "auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="chat_quota"
    )
    rate_limit = models.CharField(
        max_length=32,
        blank=True,
        help_text="Like '20/min' or '500/day'; 'none' for no limit; empty: CHAT_RATE_LIMIT.",
    )
    max_concurrent_streams = models.PositiveIntegerField(
        null=True, blank=True, help_text="0 for no limit; empty: CHAT_MAX_CONCURRENT_STREAMS."
    )
    daily_token_quota = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="0 for no quota; empty: CHAT_DAILY_TOKEN_QUOTA."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="chat_quota_user_or_group",
            )
        ]

    def __str__(self) -> str:
        return f"Quota for {self.user or self.group}"
