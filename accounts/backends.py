"""django-axes' lockout check, for logins over HTTP only.

`AxesStandaloneBackend` refuses to run without a request; `authenticate()` called with
none (the test client's `login`, a shell, a management command) is not a login anyone
can brute-force over the network, so it passes on to the next backend unthrottled.
"""

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class HttpLoginThrottle(AxesStandaloneBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
