"""The user a Bearer token names, from the cache: no query per API request.

Every request to the API carries an access token, and checking it needs the user's row
(active? password changed since the token was issued?). Reading that row from the
database was one query on every request: a read's first of two, a turn's first of
several. The row is kept in Django's cache instead, and any save or delete of a user
forgets it at once (`forget_user`, connected in accounts/apps.py): deactivating a user or
changing their password in the admin, `changepassword` or the account pages takes effect
on the next request. With Redis (several workers) every worker sees that at once; with the
local-memory cache (one worker) its own process does. A change that bypasses the model's
signals (`QuerySet.update()`, SQL) reaches the cache within USER_CACHE_SECONDS.
"""

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from rest_framework_simplejwt.settings import api_settings

from chatsite.read_through import read_through

logger = logging.getLogger(__name__)

USER_CACHE_SECONDS = 60


def cache_key(user_id: Any) -> str:
    return f"accounts:user:{user_id}"


def user_by_id(user_id: Any) -> AbstractBaseUser:
    """The user whose USER_ID_FIELD is `user_id`, from the cache when it holds them, else
    from the database (also when the cache is down); for the database pool's threads.
    Raises the user model's DoesNotExist (or ValueError, ValidationError for an id of the
    wrong kind)."""
    return read_through(cache_key(user_id), lambda: stored_user(user_id), USER_CACHE_SECONDS)


def stored_user(user_id: Any) -> AbstractBaseUser:
    return get_user_model().objects.get(**{api_settings.USER_ID_FIELD: user_id})


def forget_user(sender: type, instance: AbstractBaseUser, **_: Any) -> None:
    """A user was saved or deleted: the cached copy is stale (a signal receiver)."""
    try:
        cache.delete(cache_key(getattr(instance, api_settings.USER_ID_FIELD)))
    except Exception:  # Redis down: the copy expires by itself
        logger.warning("Could not forget the cached user %s", instance.pk, exc_info=True)
