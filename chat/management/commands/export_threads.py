"""`manage.py export_threads --user USER`: one user's conversations, for data-subject
requests and backups.

Streamed: threads and their items are read in chunks and written as they arrive, so memory
stays flat however much the user has. With --output the file appears only when complete.
"""

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.management.base import ChatCommand
from chat.models import Thread
from chat.review.export import write_export


class Command(ChatCommand):
    help = "Export one user's threads with their items, feedback and attachment details."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, metavar="USERNAME")
        parser.add_argument(
            "--format",
            choices=["jsonl", "markdown"],
            default="jsonl",
            help="jsonl: one thread per line, as JSON (default); markdown: readable text",
        )
        parser.add_argument(
            "--output", metavar="PATH", help="file to write (replaced if it exists); default stdout"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = self.user_named(options["user"])
        threads = Thread.objects.filter(owner=user)
        count = threads.count()
        if options["output"]:
            self.write_file(threads, options["format"], Path(options["output"]))
            where = options["output"]
        else:
            self.write_stdout(threads, options["format"])
            where = "standard output"
        self.summary(
            f"Exported {count} thread{'s' if count != 1 else ''} of {user.get_username()} "
            f"to {where}.",
            to_stderr=True,
        )

    def write_stdout(self, threads: Any, fmt: str) -> None:
        try:
            write_export(threads, fmt, StdoutWriter(self))
            self.stdout.flush()
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, and keep Python from
            # complaining again when it flushes stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise CommandError("The output was closed before the export finished.") from None

    @staticmethod
    def write_file(threads: Any, fmt: str, path: Path) -> None:
        """Write beside the target and rename at the end, so a failed export never leaves
        a truncated file that looks complete."""
        directory = path.parent if str(path.parent) else Path(".")
        if not directory.is_dir():
            raise CommandError(f"Cannot write {path}: {directory} is not a directory.")
        descriptor, partial = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
                write_export(threads, fmt, out)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise


class StdoutWriter:
    """The command's stdout as a plain `write()` target (no line endings added)."""

    def __init__(self, command: BaseCommand) -> None:
        self.command = command

    def write(self, text: str) -> None:
        self.command.stdout.write(text, ending="")
