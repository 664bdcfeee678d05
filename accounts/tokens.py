"""Token minting for the session-to-JWT exchange.

The page's chat widget cannot send cookies to the Bearer-only ChatKit endpoint, so a
logged-in page trades its session for a short-lived access token. Only an access token
is issued (never a refresh token): a stolen page token dies on its own within minutes.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from rest_framework_simplejwt.tokens import AccessToken


def session_token_lifetime() -> timedelta:
    """Lifetime of an exchanged token; read per call so settings overrides apply."""
    return timedelta(minutes=settings.ACCOUNTS_SESSION_TOKEN_MINUTES)


def issue_session_access_token(user: AbstractBaseUser) -> tuple[str, int]:
    """Return an encoded access token for `user` and its lifetime in seconds."""
    lifetime = session_token_lifetime()
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=lifetime)
    return str(token), int(lifetime.total_seconds())
