"""The user a token names is read from the database once, then from the cache, and a
change to the user is seen on the next request (accounts/user_cache.py)."""

import json
from unittest import mock

import pytest
from django.test import Client

from tests.chatkit_client import bearer
from tests.queries import queries_on_every_thread

pytestmark = pytest.mark.django_db(transaction=True)


def threads_list(user):
    return Client().post(
        "/chatkit/", json.dumps({"type": "threads.list", "params": {}}),
        content_type="application/json", headers=bearer(user),
    )


def user_queries(queries) -> list[str]:
    return [sql for sql in queries if 'FROM "auth_user"' in sql]


def test_the_users_row_is_read_once_then_comes_from_the_cache(alice):
    with queries_on_every_thread() as first:
        assert threads_list(alice).status_code == 200
    with queries_on_every_thread() as second:
        assert threads_list(alice).status_code == 200

    assert len(user_queries(first)) == 1
    assert user_queries(second) == [] and len(second) == len(first) - 1


@pytest.mark.parametrize("change", ["deactivate", "delete", "new password"])
def test_a_change_to_the_user_is_seen_on_the_next_request(alice, change):
    assert threads_list(alice).status_code == 200  # alice's row now in the cache
    headers = bearer(alice)  # signed before the change

    if change == "deactivate":
        alice.is_active = False
        alice.save()
    elif change == "delete":
        alice.delete()
    else:
        alice.set_password("a brand new passphrase")
        alice.save()

    response = Client().post(
        "/chatkit/", json.dumps({"type": "threads.list", "params": {}}),
        content_type="application/json", headers=headers,
    )
    assert response.status_code == 401, response.content


def test_with_the_cache_down_the_user_is_read_from_the_database(alice):
    with mock.patch("accounts.user_cache.cache.get", side_effect=ConnectionError("down")):
        with queries_on_every_thread() as queries:
            response = threads_list(alice)

    assert response.status_code == 200
    assert len(user_queries(queries)) == 1
