"""Token API (simplejwt endpoints, session exchange) and async Bearer authentication."""

import base64
import json
from datetime import timedelta

import jwt as pyjwt
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncRequestFactory, Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts import jwt as bearer
from accounts.jwt import AuthenticationFailed, authenticate_bearer, unauthorized
from tests.factories import PASSWORD


def obtain_pair(client: Client, username: str = "alice", password: str = PASSWORD):
    return client.post(
        "/api/token/", {"username": username, "password": password}, content_type="application/json"
    )


def refresh(client: Client, token: str):
    return client.post("/api/token/refresh/", {"refresh": token}, content_type="application/json")


def bearer_request(authorization: str | None = None, **headers):
    """An async request to the ChatKit endpoint carrying the given Authorization header."""
    if authorization is not None:
        headers["Authorization"] = authorization
    return AsyncRequestFactory().post("/chatkit/", headers=headers)


# --- simplejwt endpoints ---------------------------------------------------------------


@pytest.mark.django_db
class TestTokenEndpoints:
    def test_obtain_pair_with_password(self, client, alice):
        response = obtain_pair(client)
        assert response.status_code == 200
        body = response.json()
        assert AccessToken(body["access"])["user_id"] == str(alice.pk)
        assert RefreshToken(body["refresh"])["user_id"] == str(alice.pk)

    def test_obtain_pair_rejects_wrong_password(self, client, alice):
        response = obtain_pair(client, password="wrong")
        assert response.status_code == 401
        assert "access" not in response.json()

    def test_refresh_rotates_and_old_refresh_is_blacklisted(self, client, alice):
        old = obtain_pair(client).json()["refresh"]
        response = refresh(client, old)
        assert response.status_code == 200
        body = response.json()
        assert body["refresh"] != old
        assert AccessToken(body["access"])["user_id"] == str(alice.pk)

        replay = refresh(client, old)
        assert replay.status_code == 401
        assert refresh(client, body["refresh"]).status_code == 200

    def test_blacklist_endpoint_revokes_refresh(self, client, alice):
        token = obtain_pair(client).json()["refresh"]
        response = client.post(
            "/api/token/blacklist/", {"refresh": token}, content_type="application/json"
        )
        assert response.status_code == 200
        assert refresh(client, token).status_code == 401


# --- session -> access token exchange -----------------------------------------------------


def csrf_client(user=None) -> tuple[Client, str]:
    """A CSRF-enforcing client that has loaded a page, so it holds a CSRF cookie."""
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    client.get("/accounts/login/")
    return client, client.cookies["csrftoken"].value


@pytest.mark.django_db(transaction=True)  # the token is used: the pool sees committed rows
class TestSessionExchange:
    def test_logged_in_with_csrf_gets_a_working_token(self, alice, settings):
        settings.ACCOUNTS_SESSION_TOKEN_MINUTES = 2
        client, csrf = csrf_client(alice)
        response = client.post("/api/token/session/", HTTP_X_CSRFTOKEN=csrf)

        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        body = response.json()
        assert body["user_id"] == alice.pk
        assert body["expires_in"] == 120
        token = AccessToken(body["access"])
        assert token["exp"] - token["iat"] == 120

        request = bearer_request(f"Bearer {body['access']}")
        assert async_to_sync(authenticate_bearer)(request).pk == alice.pk

    def test_no_refresh_token_is_handed_to_the_page(self, alice):
        client, csrf = csrf_client(alice)
        body = client.post("/api/token/session/", HTTP_X_CSRFTOKEN=csrf).json()
        assert set(body) == {"access", "expires_in", "user_id"}

    def test_missing_csrf_token_is_forbidden(self, alice):
        client, _csrf = csrf_client(alice)
        response = client.post("/api/token/session/")
        assert response.status_code == 403
        assert b"access" not in response.content

    def test_anonymous_gets_401_json(self):
        client, csrf = csrf_client()
        response = client.post("/api/token/session/", HTTP_X_CSRFTOKEN=csrf)
        assert response.status_code == 401
        assert response.json()["detail"]
        assert "no-store" in response["Cache-Control"]

    def test_get_is_not_allowed(self, client, alice):
        client.force_login(alice)
        assert client.get("/api/token/session/").status_code == 405


# --- authenticate_bearer ------------------------------------------------------------------


def b64url(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def access_for(user, **claims) -> AccessToken:
    token = AccessToken.for_user(user)
    for name, value in claims.items():
        token[name] = value
    return token


async def assert_rejected(authorization: str | None, message: str, **headers) -> None:
    with pytest.raises(AuthenticationFailed) as failure:
        await authenticate_bearer(bearer_request(authorization, **headers))
    assert failure.value.message == message


@pytest.mark.django_db(transaction=True)
class TestAuthenticateBearer:
    async def test_good_token_returns_user(self, alice):
        user = await authenticate_bearer(bearer_request(f"Bearer {access_for(alice)}"))
        assert user.pk == alice.pk
        assert user.username == "alice"

    async def test_scheme_is_case_insensitive(self, alice):
        user = await authenticate_bearer(bearer_request(f"bearer {access_for(alice)}"))
        assert user.pk == alice.pk

    async def test_missing_header(self, alice):
        await assert_rejected(None, "Authorization header missing")

    async def test_cookies_are_ignored(self, alice):
        token = str(access_for(alice))
        request = bearer_request()
        request.COOKIES["access"] = token
        request.COOKIES["sessionid"] = token
        with pytest.raises(AuthenticationFailed) as failure:
            await authenticate_bearer(request)
        assert failure.value.message == "Authorization header missing"

    async def test_wrong_scheme(self, alice):
        await assert_rejected("Basic YWxpY2U6c2VjcmV0", "Authorization scheme must be Bearer")

    async def test_malformed_header(self, alice):
        await assert_rejected("Bearer", bearer.MALFORMED_HEADER)
        await assert_rejected(f"Bearer {access_for(alice)} extra", bearer.MALFORMED_HEADER)

    async def test_expired_token(self, alice):
        token = access_for(alice)
        token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=5))
        await assert_rejected(f"Bearer {token}", "Token expired")

    async def test_forged_payload_with_original_signature(self, alice, django_user_model):
        mallory = await sync_to_async(django_user_model.objects.create_user)(
            username="mallory", password=PASSWORD
        )
        header, payload, signature = str(access_for(mallory)).split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["user_id"] = str(alice.pk)
        forged = f"{header}.{b64url(claims)}.{signature}"
        await assert_rejected(f"Bearer {forged}", "Token is invalid")

    async def test_signature_from_another_key(self, alice):
        token = access_for(alice)
        other = pyjwt.encode(token.payload, "not-the-site-key-" + "x" * 32, algorithm="HS256")
        await assert_rejected(f"Bearer {other}", "Token is invalid")

    async def test_alg_none_token(self, alice):
        claims = access_for(alice).payload
        unsigned = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}."
        await assert_rejected(f"Bearer {unsigned}", "Token is invalid")

    async def test_garbage_token(self, alice):
        await assert_rejected("Bearer not.a.jwt", "Token is invalid")

    async def test_refresh_token_used_as_access(self, alice):
        refresh_token = await sync_to_async(RefreshToken.for_user)(alice)
        await assert_rejected(f"Bearer {refresh_token}", "Token is not an access token")

    async def test_token_without_user_claim(self, alice):
        token = access_for(alice)
        del token["user_id"]
        await assert_rejected(f"Bearer {token}", bearer.NO_USER_CLAIM)

    async def test_inactive_user(self, alice):
        token = access_for(alice)
        alice.is_active = False
        await alice.asave(update_fields=["is_active"])
        await assert_rejected(f"Bearer {token}", "User inactive or deleted")

    async def test_deleted_user(self, alice):
        token = access_for(alice)
        await alice.adelete()
        await assert_rejected(f"Bearer {token}", "User inactive or deleted")


# --- unauthorized --------------------------------------------------------------------------


class TestUnauthorized:
    def test_invalid_token_challenge(self):
        response = unauthorized("Token expired")
        assert response.status_code == 401
        assert response["Content-Type"] == "application/json"
        assert json.loads(response.content) == {"detail": "Token expired"}
        assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'

    @pytest.mark.parametrize("message", [bearer.MISSING_HEADER, bearer.WRONG_SCHEME])
    def test_no_token_sent_gets_bare_challenge(self, message):
        response = unauthorized(message)
        assert response.status_code == 401
        assert json.loads(response.content) == {"detail": message}
        assert response["WWW-Authenticate"] == "Bearer"
