"""`manage.py migrate_locked`: `migrate`, one process at a time, however many start at once.

Several containers (or a deploy that starts a migrate job while another still runs) must
not apply the same migration together: the second one fails with duplicate-key errors.
This takes a PostgreSQL advisory lock (a lock file on SQLite) and waits for it, then runs
`migrate` with the arguments given; a process that waited finds the migrations applied
and has nothing to do. The lock goes with the connection if the process dies.
"""

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from chat.management.locks import exclusive


class Command(BaseCommand):
    help = "Apply migrations under a database-wide lock, so concurrent starts cannot race."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default")
        parser.add_argument("--noinput", "--no-input", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        database = options["database"]
        self.stdout.write("Waiting for the migration lock...")
        with exclusive("migrate", using=database, wait=True):
            call_command(
                "migrate",
                database=database,
                interactive=not options["noinput"],
                stdout=self.stdout,
                stderr=self.stderr,
                verbosity=options["verbosity"],
            )
