"""`manage.py add_reviewer USERNAME`: let a user review conversations in the admin.

Makes the user staff (so they can log in to /admin/) and a member of the "Conversation
reviewers" group (read and export conversations, the insights page, the feedback review
queue; no changes, no deletes). `--remove` takes the group away again (staff status stays:
the user may have other admin work).
"""

from typing import Any

from django.contrib.auth.models import Group
from django.core.management.base import CommandError, CommandParser

from chat.management.base import ChatCommand

GROUP_NAME = "Conversation reviewers"


class Command(ChatCommand):
    help = 'Make a user staff and add them to "Conversation reviewers" (or --remove them).'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--remove", action="store_true", help='take the user out of "Conversation reviewers"'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = self.user_named(options["username"])
        group = Group.objects.filter(name=GROUP_NAME).first()
        if group is None:
            raise CommandError(f'The group "{GROUP_NAME}" does not exist: run migrate first.')
        name = user.get_username()
        if options["remove"]:
            user.groups.remove(group)
            self.summary(f'{name} is no longer in "{GROUP_NAME}".')
            return
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        user.groups.add(group)
        self.summary(f'{name} is staff and in "{GROUP_NAME}": they can open /admin/.')
