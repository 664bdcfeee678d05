"""Uploaded files on object storage (CHAT_MEDIA_STORAGE=s3), against a real S3-compatible
server: moto's server mode, started by the test on loopback. Two daphne workers share the
bucket and nothing else: a file uploaded through one is downloaded through the other, and
a purge removes the objects."""

import json
import subprocess
import sys

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from rest_framework_simplejwt.tokens import AccessToken

from chat.models import Attachment
from tests.chatkit_client import user_input
from tests.daphne import start_workers
from tests.instances import ROOT, free_port, instance_environment

pytestmark = pytest.mark.django_db(transaction=True)

BUCKET = "chat-media"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def s3():
    """An S3 endpoint on loopback with an empty bucket; the workers' environment for it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "CHAT_MEDIA_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
    }
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )
    client.create_bucket(Bucket=BUCKET)
    yield client, env
    server.stop()


def keys(client) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


@pytest.fixture
def two_workers(transactional_db, tmp_path, s3):
    _, env = s3
    workers = start_workers(tmp_path, {"a": env, "b": env})
    yield workers
    for worker in workers:
        worker.stop()


def test_a_file_uploaded_on_one_worker_is_downloaded_on_another_and_purged(
    s3, two_workers, alice, tmp_path
):
    client, env = s3
    first, second = two_workers
    headers = {"Authorization": f"Bearer {AccessToken.for_user(alice)}"}

    uploaded = requests.post(
        f"http://{first.host}/chatkit/upload/",
        files={"file": ("dot.png", PNG, "image/png")},
        headers=headers,
        timeout=30,
    )
    assert uploaded.status_code == 200, uploaded.text
    attachment = uploaded.json()
    (stored,) = keys(client)
    assert stored == Attachment.objects.get(pk=attachment["id"]).file.name
    assert not (tmp_path / "media").exists()  # nothing on the worker's disk

    # The signed link names the first worker; the same path and token on the second one.
    link = attachment["preview_url"].replace(first.host, second.host)
    downloaded = requests.get(link, timeout=30)
    assert downloaded.status_code == 200
    assert downloaded.content == PNG
    assert downloaded.headers["Content-Type"] == "image/png"

    # Sent in a message on the second worker (the model reads it back from the bucket).
    answer = requests.post(
        f"http://{second.host}/chatkit/",
        data=json.dumps(
            {"type": "threads.create",
             "params": {"input": user_input("What is this?", [attachment["id"]])}}
        ),
        headers={**headers, "Content-Type": "application/json"},
        timeout=60,
    )
    assert answer.status_code == 200
    assert '"type":"thread.item.done"' in answer.text.replace(" ", "")
    assert Attachment.objects.get(pk=attachment["id"]).thread_id is not None

    purge = subprocess.run(
        [sys.executable, "manage.py", "purge_threads", "--user", "alice", "--yes"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=instance_environment(**env),
        timeout=120,
    )
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert keys(client) == []
    assert requests.get(link, timeout=30).status_code == 404
    for worker in two_workers:
        assert worker.problems() == [], worker.log_tail()
