"""The refresh endpoint's checks, on top of simplejwt's.

simplejwt's `TokenRefreshSerializer` looks the token's user up with `.get()` and lets a
deleted user's `DoesNotExist` (or a `user_id` claim of the wrong type) escape as a 500,
and it never compares the token with the user's current password. Here every such token
is refused with 401, and with CHECK_REVOKE_TOKEN a password change revokes the refresh
tokens issued before it (accounts/jwt.py does the same for access tokens).
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password


def valid_user_id(value: Any) -> bool:
    """A user id claim is a whole number or a string: never a list, an object, a float or
    a boolean (`1.5` would otherwise name user 1)."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value != ""
    )


class SiteTokenRefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = self.token_class(attrs["refresh"])
        user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
        if not valid_user_id(user_id):
            raise InvalidToken("Token carries no valid user id")
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{api_settings.USER_ID_FIELD: user_id})
        except (user_model.DoesNotExist, ValueError, TypeError, ValidationError) as error:
            raise AuthenticationFailed("User inactive or deleted", "user_not_found") from error
        if not api_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed("User inactive or deleted", "no_active_account")
        if api_settings.CHECK_REVOKE_TOKEN and refresh.payload.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed("Token revoked by a password change", "token_revoked")
        return super().validate(attrs)
