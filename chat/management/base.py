"""What the chat app's commands share: usage errors, looking a user up by name, one run at
a time, and the closing summary line."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError

from chat.management.locks import AlreadyRunning, exclusive


def usage_error(message: str) -> CommandError:
    """An argument problem found after parsing: exit status 2, like argparse's own."""
    return CommandError(message, returncode=2)


class ChatCommand(BaseCommand):
    def user_named(self, username: str) -> AbstractBaseUser:
        """The user with this username; a usage error naming it when there is none."""
        user_model = get_user_model()
        try:
            return user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise usage_error(f"Unknown user '{username}'.") from None

    @contextmanager
    def one_run_at_a_time(self, name: str) -> Iterator[None]:
        """Run the block unless another `name` run holds the lock, on any host."""
        try:
            with exclusive(name):
                yield
        except AlreadyRunning as exc:
            raise CommandError(f"Not started: {exc}. Try again when it has finished.") from exc

    def summary(self, line: str, *, to_stderr: bool = False) -> None:
        """The one line that says what the command did (stderr when stdout is the data)."""
        (self.stderr if to_stderr else self.stdout).write(line)
