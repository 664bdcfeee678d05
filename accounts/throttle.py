"""What a client locked out by too many failed logins sees (django-axes' lockout callable).

django-axes counts failed logins per account and per address (ACCOUNTS_LOGIN_FAILURE_LIMIT
within ACCOUNTS_LOGIN_COOLOFF_MINUTES) on `/api/token/`, `/accounts/login/` and
`/admin/login/`. The token API answers 429 JSON with Retry-After; the login forms show a
page that says what happened and when to try again, with the same status.
"""

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext
from rest_framework_simplejwt.views import TokenObtainPairView

from chatsite.errors import wants_json


def retry_after_seconds() -> int:
    cool_off = settings.AXES_COOLOFF_TIME
    return max(1, math.ceil(cool_off.total_seconds())) if cool_off else 3600


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed login attempts. Please wait %(minutes)d minute and try again.",
        "Too many failed login attempts. Please wait %(minutes)d minutes and try again.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """429 JSON for the API, the login page with the message for the forms."""
    seconds = retry_after_seconds()
    message = lockout_message(seconds)
    if wants_json(request):
        response: HttpResponse = JsonResponse({"detail": message}, status=429)
    else:
        response = render(request, "accounts/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response


class ThrottledTokenObtainPairView(TokenObtainPairView):
    """simplejwt's login, with django-axes' lockout answered as 429 JSON.

    django-axes flags the request it was given to `authenticate`: for a DRF view that is
    DRF's `Request`, which its middleware never sees, so the view answers the lockout."""

    def handle_exception(self, exc: Exception) -> HttpResponse:
        if getattr(self.request, "axes_locked_out", False):
            return lockout_response(self.request)
        return super().handle_exception(exc)
