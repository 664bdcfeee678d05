"""Create the demo user once, so `make run` always has a login.

An existing demo user is left as it is: resetting its password on every start would
log it out everywhere (sessions carry a hash of the password) and undo a password the
user chose. `--reset-password` resets it on purpose.
"""

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand
from django.db import transaction


def ensure_demo_user(
    username: str, password: str, reset_password: bool = False
) -> tuple[AbstractBaseUser, bool]:
    """The user `username`, created active with `password` when missing; returns it and
    whether it was created. An existing user's password changes only with
    `reset_password`.

    The password is set directly, bypassing the validators: the demo password is
    deliberately simple and documented.
    """
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(
            **{user_model.USERNAME_FIELD: username}
        )
        if created or reset_password:
            user.set_password(password)
            user.is_active = True
            user.save()
    return user, created


class Command(BaseCommand):
    help = (
        "Create the demo user if it does not exist (an existing one is left unchanged). "
        "Env: DEMO_USERNAME (default demo), DEMO_PASSWORD (default demo-password)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="set the demo user's password to DEMO_PASSWORD even if it exists",
        )

    def handle(self, *args, **options):
        username = os.environ.get("DEMO_USERNAME") or "demo"
        password = os.environ.get("DEMO_PASSWORD") or "demo-password"
        _user, created = ensure_demo_user(username, password, options["reset_password"])
        port = os.environ.get("PORT") or "8000"
        if created or options["reset_password"]:
            state = f"username={username} password={password}"
        else:
            state = f"username={username} (exists; its password was not changed)"
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo user ready: {state} "
                f"(log in at http://127.0.0.1:{port}/accounts/login/)"
            )
        )
