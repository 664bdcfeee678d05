"""Create the demo user, or reset its password, so `make run` always has a login."""

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand
from django.db import transaction


def ensure_demo_user(username: str, password: str) -> AbstractBaseUser:
    """Create or reset `username` with `password`, active; safe to run repeatedly.

    The password is set directly, bypassing the validators: the demo password is
    deliberately simple and documented.
    """
    user_model = get_user_model()
    with transaction.atomic():
        user, _created = user_model.objects.get_or_create(**{user_model.USERNAME_FIELD: username})
        user.set_password(password)
        user.is_active = True
        user.save()
    return user


class Command(BaseCommand):
    help = (
        "Create the demo user (or reset its password). "
        "Env: DEMO_USERNAME (default demo), DEMO_PASSWORD (default demo-password)."
    )

    def handle(self, *args, **options):
        username = os.environ.get("DEMO_USERNAME") or "demo"
        password = os.environ.get("DEMO_PASSWORD") or "demo-password"
        ensure_demo_user(username, password)
        port = os.environ.get("PORT") or "8000"
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo user ready: username={username} password={password} "
                f"(log in at http://127.0.0.1:{port}/accounts/login/)"
            )
        )
