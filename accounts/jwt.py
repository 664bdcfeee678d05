"""Authenticate a Bearer access token from an async Django view.

The ChatKit endpoint is a plain async view (see DESIGN.md): DRF's JWTAuthentication
would run the sync ORM inside the event loop, so this module validates the token with
simplejwt (pure CPU, no database: access tokens are not blacklisted) and loads the user
on the database pool, from the cache when it holds them (accounts/user_cache.py). Only
the Authorization header is read, never cookies, so the endpoint needs no CSRF protection.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, UntypedToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.serializers import valid_user_id
from accounts.user_cache import user_by_id
from chatsite import db

SCHEME = "Bearer"

MISSING_HEADER = "Authorization header missing"
WRONG_SCHEME = "Authorization scheme must be Bearer"
MALFORMED_HEADER = "Authorization header must be 'Bearer <token>'"
TOKEN_EXPIRED = "Token expired"
TOKEN_INVALID = "Token is invalid"
WRONG_TOKEN_TYPE = "Token is not an access token"
NO_USER_CLAIM = "Token carries no valid user id"
USER_UNUSABLE = "User inactive or deleted"
TOKEN_REVOKED = "Token revoked by a password change"

# Failures where the client sent no Bearer token at all. RFC 6750 section 3.1: such a
# challenge carries no error code, the client simply has to authenticate.
_NO_TOKEN_MESSAGES = frozenset({MISSING_HEADER, WRONG_SCHEME})


class AuthenticationFailed(Exception):
    """The request carries no usable Bearer token; .message says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


async def authenticate_bearer(request: HttpRequest) -> AbstractBaseUser:
    """Return the active user named by the request's Bearer access token.

    Raises AuthenticationFailed with a short, client-safe message otherwise.
    """
    return await authenticate_token(_raw_token(request))


async def authenticate_token(raw: str) -> AbstractBaseUser:
    """The active user named by an access token given directly (the websocket sends it in
    its first message); AuthenticationFailed otherwise."""
    token = _validated_access_token(raw)
    user = await _load_user(token)
    _check_not_revoked(token, user)
    return user


def unauthorized(message: str) -> JsonResponse:
    """A 401 JSON answer with the Bearer challenge RFC 6750 asks for."""
    challenge = SCHEME
    if message not in _NO_TOKEN_MESSAGES:
        challenge = f'{SCHEME} realm="api", error="invalid_token"'
    response = JsonResponse({"detail": message}, status=401)
    response["WWW-Authenticate"] = challenge
    return response


def _raw_token(request: HttpRequest) -> str:
    """Extract the token from `Authorization: Bearer <token>` (scheme case-insensitive)."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        raise AuthenticationFailed(MISSING_HEADER)
    parts = header.split()
    if parts[0].lower() != SCHEME.lower():
        raise AuthenticationFailed(WRONG_SCHEME)
    if len(parts) != 2:
        raise AuthenticationFailed(MALFORMED_HEADER)
    return parts[1]


def _validated_access_token(raw: str) -> AccessToken:
    """Check signature, algorithm, expiry and type; name the first thing that is wrong.

    simplejwt reports a wrong type and a bad signature with the same exception class,
    so on failure the token is re-checked without the type rule: if it passes that,
    it is a genuine token of another type (a refresh token, say).
    """
    try:
        return AccessToken(raw)
    except ExpiredTokenError as exc:
        raise AuthenticationFailed(TOKEN_EXPIRED) from exc
    except TokenError as exc:
        if _is_genuine_token(raw):
            raise AuthenticationFailed(WRONG_TOKEN_TYPE) from exc
        raise AuthenticationFailed(TOKEN_INVALID) from exc


def _is_genuine_token(raw: str) -> bool:
    """True if `raw` is validly signed and unexpired, whatever its type claim."""
    try:
        UntypedToken(raw)
    except TokenError:
        return False
    return True


async def _load_user(token: AccessToken) -> AbstractBaseUser:
    """Fetch the token's user (kept in the cache: accounts/user_cache.py) and apply
    simplejwt's user rule.

    USER_AUTHENTICATION_RULE (by default: the user is active) is the same policy the
    DRF token endpoints apply, so both doors into the site agree on who may enter.
    """
    user_id = token.get(api_settings.USER_ID_CLAIM)
    if not valid_user_id(user_id):  # missing, or `[1]`, `{}`, `1.5`...
        raise AuthenticationFailed(NO_USER_CLAIM)
    user_model = get_user_model()
    try:
        user = await db.run(user_by_id, user_id)
    except (user_model.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise AuthenticationFailed(USER_UNUSABLE) from exc
    if not api_settings.USER_AUTHENTICATION_RULE(user):
        raise AuthenticationFailed(USER_UNUSABLE)
    return user


def _check_not_revoked(token: AccessToken, user: AbstractBaseUser) -> None:
    """Honour simplejwt's CHECK_REVOKE_TOKEN: a password change voids older tokens."""
    if not api_settings.CHECK_REVOKE_TOKEN:
        return
    if token.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise AuthenticationFailed(TOKEN_REVOKED)
