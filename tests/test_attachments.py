"""Attachments end to end: upload (direct and two-phase), limits, storage, authorisation,
serving, lifecycle and what the model receives."""

import base64
import json
import re
import struct
import zlib
from typing import Any
from urllib.parse import urlsplit

import pytest
from chatkit.types import FileAttachment, ImageAttachment
from django.core.files.storage import default_storage
from django.test import AsyncClient

from chat import models
from chat.assistant.converter import SiteItemConverter
from chat.assistant.demo_model import DemoModel
from chat.attachments import policy, signing
from chat.conf import app_settings
from chat.templatetags.chat_widget import upload_strategy_option
from tests.chatkit_client import ChatKitClient, bearer, user_input

pytestmark = pytest.mark.django_db(transaction=True)

STORED_NAME = re.compile(
    r"^chat/attachments/\d{4}/\d{2}/[0-9a-f]{32}\.(png|jpg|gif|webp|pdf|txt|md|csv|json)$"
)


def png_bytes() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = png_bytes()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def multipart(filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    """A multipart body built by hand: the test client would strip path parts from names."""
    boundary = "chat-test-boundary-7f3a"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


async def post_file(
    path: str,
    filename: str,
    content: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
):
    body, body_type = multipart(filename, content, content_type)
    return await AsyncClient().post(path, body, content_type=body_type, headers=headers or {})


async def upload(user: Any, filename: str, content: bytes, content_type: str) -> dict:
    """A direct upload that must succeed: the attachment JSON."""
    response = await post_file("/chatkit/upload/", filename, content, content_type, bearer(user))
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def local(url: str) -> str:
    """Path and query of an absolute URL on the test server."""
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "testserver", url
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def row(attachment_id: str) -> models.Attachment:
    return await models.Attachment.objects.aget(pk=attachment_id)


def stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


async def body_of(response) -> bytes:
    if response.streaming:
        return b"".join([chunk async for chunk in response.streaming_content])
    return response.content


# --- direct upload -------------------------------------------------------------------------


async def test_direct_upload_stores_the_file_under_a_generated_name(alice):
    data = await upload(alice, "holiday photo.png", PNG, "image/png")

    assert data["type"] == "image"
    assert data["name"] == "holiday photo.png"
    assert data["mime_type"] == "image/png"
    assert "metadata" not in data and "upload_descriptor" not in data
    assert data["preview_url"].startswith(f"http://testserver/chatkit/attachments/{data['id']}/")
    stored = await row(data["id"])
    assert stored.owner_id == alice.pk
    assert stored.thread_id is None  # not sent yet
    assert stored.upload_state == models.Attachment.UploadState.UPLOADED
    assert stored.size == len(PNG)
    assert STORED_NAME.match(stored.file.name), stored.file.name
    assert stored_bytes(stored.file.name) == PNG


async def test_direct_upload_of_a_text_file_is_a_file_attachment(alice):
    data = await upload(alice, "notes.md", b"# Notes\n", "text/markdown")

    assert data["type"] == "file"
    assert "preview_url" not in data
    assert (await row(data["id"])).file.name.endswith(".md")


async def test_direct_upload_takes_source_code_whatever_type_the_browser_reports(alice):
    data = await upload(alice, "script.py", b"print('hi')\n", "text/x-python")

    assert data["mime_type"] == "text/plain"


async def test_direct_upload_needs_a_bearer_token(alice):
    response = await post_file("/chatkit/upload/", "a.png", PNG, "image/png")

    assert response.status_code == 401
    assert not await models.Attachment.objects.aexists()


async def test_direct_upload_without_a_file_field_is_refused(alice):
    response = await AsyncClient().post("/chatkit/upload/", {"other": "x"}, headers=bearer(alice))

    assert response.status_code == 400
    assert "file" in json.loads(response.content)["detail"]


# --- two-phase upload ----------------------------------------------------------------------


async def create(chat: ChatKitClient, name: str, size: int, mime_type: str) -> tuple[int, Any]:
    return await chat.call("attachments.create", name=name, size=size, mime_type=mime_type)


async def test_two_phase_upload_completes_through_the_signed_url(alice, alice_chat):
    status, created = await create(alice_chat, "chart.png", len(PNG), "image/png")
    assert status == 200, created
    descriptor = created["upload_descriptor"]
    assert descriptor["method"] == "POST"
    assert descriptor["url"].startswith(
        f"http://testserver/chatkit/attachments/{created['id']}/upload/?token="
    )
    assert (await row(created["id"])).upload_state == models.Attachment.UploadState.PENDING

    # The widget's upload may carry no Authorization header: the URL is the credential.
    response = await post_file(local(descriptor["url"]), "chart.png", PNG, "image/png")

    assert response.status_code == 200, response.content
    uploaded = json.loads(response.content)
    assert uploaded["id"] == created["id"]
    assert "upload_descriptor" not in uploaded
    stored = await row(created["id"])
    assert stored.upload_state == models.Attachment.UploadState.UPLOADED
    assert stored.size == len(PNG)
    assert STORED_NAME.match(stored.file.name)
    assert stored_bytes(stored.file.name) == PNG
    assert "upload_descriptor" not in stored.data or stored.data["upload_descriptor"] is None

    again = await post_file(local(descriptor["url"]), "chart.png", PNG, "image/png")
    assert again.status_code == 409


async def test_a_pending_attachment_cannot_be_sent_until_uploaded(alice, alice_chat):
    _, created = await create(alice_chat, "chart.png", len(PNG), "image/png")

    early = await alice_chat.post(
        {"type": "threads.create", "params": {"input": user_input("Look", [created["id"]])}}
    )
    assert early.status_code == 400
    assert "not been uploaded" in json.loads(early.content)["detail"]

    await post_file(local(created["upload_descriptor"]["url"]), "chart.png", PNG, "image/png")
    events = await alice_chat.stream("threads.create", input=user_input("Look", [created["id"]]))
    thread_id = events[0]["thread"]["id"]
    assert (await row(created["id"])).thread_id == thread_id


async def test_the_upload_target_accepts_the_owners_bearer_token_and_no_one_else(
    alice, bob, alice_chat
):
    _, created = await create(alice_chat, "notes.txt", 5, "text/plain")
    path = f"/chatkit/attachments/{created['id']}/upload/"

    for headers in ({}, bearer(bob)):
        refused = await post_file(path, "notes.txt", b"hello", "text/plain", headers)
        assert refused.status_code == 404
    forged = await post_file(f"{path}?token=1:abc:def", "notes.txt", b"hello", "text/plain")
    assert forged.status_code == 404

    accepted = await post_file(path, "notes.txt", b"hello", "text/plain", bearer(alice))
    assert accepted.status_code == 200, accepted.content


async def test_a_refusal_checked_on_a_database_thread_speaks_the_users_language(
    alice, alice_chat
):
    """Whether an attachment can be sent is looked up on the database pool's threads
    (chatsite/db.py): they say it in the language of the request that asked."""
    _, created = await create(alice_chat, "chart.png", len(PNG), "image/png")
    alice_chat.headers = {**alice_chat.headers, "Accept-Language": "fr"}

    early = await alice_chat.post(
        {"type": "threads.create", "params": {"input": user_input("Regarde", [created["id"]])}}
    )

    assert early.status_code == 400
    assert json.loads(early.content)["detail"] == (
        f"La pièce jointe {created['id']} n’a pas encore été envoyée."
    )


async def test_an_upload_url_only_works_for_its_own_attachment(alice_chat):
    _, first = await create(alice_chat, "a.txt", 1, "text/plain")
    _, second = await create(alice_chat, "b.txt", 1, "text/plain")
    token = first["upload_descriptor"]["url"].split("?token=")[1]

    response = await post_file(
        f"/chatkit/attachments/{second['id']}/upload/?token={token}", "b.txt", b"b", "text/plain"
    )

    assert response.status_code == 404


async def test_two_phase_create_checks_the_declared_size_and_type(alice_chat, settings):
    settings.CHAT_ATTACHMENT_MAX_BYTES = 1000

    too_big = await create(alice_chat, "big.png", 1001, "image/png")
    wrong_type = await create(alice_chat, "tool.exe", 10, "application/x-msdownload")

    assert too_big[0] == 413
    assert wrong_type[0] == 415
    assert not await models.Attachment.objects.aexists()


async def test_two_phase_upload_checks_the_content_against_the_declared_type(alice_chat):
    _, created = await create(alice_chat, "chart.png", 100, "image/png")

    response = await post_file(
        local(created["upload_descriptor"]["url"]), "chart.png", b"not a png at all", "image/png"
    )

    assert response.status_code == 415
    stored = await row(created["id"])
    assert stored.upload_state == models.Attachment.UploadState.PENDING
    assert not stored.file


async def test_two_phase_upload_checks_the_real_size(alice_chat, settings):
    settings.CHAT_ATTACHMENT_MAX_BYTES = 1000
    _, created = await create(alice_chat, "notes.txt", 10, "text/plain")

    response = await post_file(
        local(created["upload_descriptor"]["url"]), "notes.txt", b"x" * 1001, "text/plain"
    )

    assert response.status_code == 413


# --- limits and checks ---------------------------------------------------------------------


async def test_a_file_over_the_limit_gets_413(alice, settings):
    settings.CHAT_ATTACHMENT_MAX_BYTES = 1000

    response = await post_file(
        "/chatkit/upload/", "a.txt", b"x" * 1001, "text/plain", bearer(alice)
    )

    assert response.status_code == 413
    assert "1000\xa0bytes" in json.loads(response.content)["detail"]
    assert not await models.Attachment.objects.aexists()


async def test_a_body_declared_far_over_the_limit_gets_413_before_it_is_read(alice, settings):
    settings.CHAT_ATTACHMENT_MAX_BYTES = 1000

    response = await post_file(
        "/chatkit/upload/", "a.txt", b"x" * 100_000, "text/plain", bearer(alice)
    )

    assert response.status_code == 413


async def test_files_above_djangos_in_memory_limits_are_accepted_within_ours(alice, settings):
    """DATA_UPLOAD_MAX_MEMORY_SIZE must not turn a large upload into Django's 400."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000
    content = PNG + b"\x00" * 50_000

    data = await upload(alice, "big.png", content, "image/png")

    assert stored_bytes((await row(data["id"])).file.name) == content


@pytest.mark.parametrize(
    ("filename", "content", "content_type"),
    [
        ("tool.exe", b"MZ\x90\x00", "application/x-msdownload"),
        ("page.svg", b"<svg onload='alert(1)'/>", "image/svg+xml"),
        ("archive.zip", b"PK\x03\x04", "application/zip"),
    ],
    ids=["exe", "svg", "zip"],
)
async def test_a_type_not_allowed_gets_415(alice, filename, content, content_type):
    response = await post_file("/chatkit/upload/", filename, content, content_type, bearer(alice))

    assert response.status_code == 415
    assert not await models.Attachment.objects.aexists()


@pytest.mark.parametrize(
    ("filename", "content", "content_type"),
    [
        ("photo.png", b"<html><script>alert(1)</script>", "image/png"),
        ("photo.png", JPEG, "image/png"),
        ("report.pdf", PNG, "application/pdf"),
        ("photo.jpg", PDF, "image/jpeg"),
    ],
    ids=["html-as-png", "jpeg-as-png", "png-as-pdf", "pdf-as-jpeg"],
)
async def test_content_that_lies_about_its_type_gets_415(alice, filename, content, content_type):
    response = await post_file("/chatkit/upload/", filename, content, content_type, bearer(alice))

    assert response.status_code == 415
    assert not await models.Attachment.objects.aexists()


async def test_a_message_with_too_many_attachments_gets_400(alice, alice_chat, settings):
    settings.CHAT_ATTACHMENTS_PER_MESSAGE = 2
    ids = [(await upload(alice, f"n{i}.txt", b"x", "text/plain"))["id"] for i in range(3)]

    response = await alice_chat.post(
        {"type": "threads.create", "params": {"input": user_input("Hi", ids)}}
    )

    assert response.status_code == 400
    assert "at most 2" in json.loads(response.content)["detail"]
    assert not await models.Thread.objects.aexists()


async def test_an_attachment_sent_in_one_thread_cannot_be_sent_in_another(alice, alice_chat):
    attachment_id = (await upload(alice, "n.txt", b"x", "text/plain"))["id"]
    await alice_chat.stream("threads.create", input=user_input("First", [attachment_id]))

    response = await alice_chat.post(
        {"type": "threads.create", "params": {"input": user_input("Again", [attachment_id])}}
    )

    assert response.status_code == 400


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("résumé 2024 — final.txt", "résumé 2024 — final.txt"),
        ("invoice\u202egpj.exe.txt", "invoicegpj.exe.txt"),
    ],
)
async def test_odd_names_are_stored_under_generated_names(alice, filename, shown, settings):
    data = await upload(alice, filename, b"harmless text", "text/plain")

    stored = await row(data["id"])
    assert data["name"] == shown
    assert STORED_NAME.match(stored.file.name), stored.file.name
    media = settings.MEDIA_ROOT.resolve()
    assert (media / stored.file.name).resolve().is_relative_to(media)
    assert stored_bytes(stored.file.name) == b"harmless text"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("evil\x00.png.txt", "evil.png.txt"),
        ("line\nbreak.txt", "linebreak.txt"),
        ("\u202eexe.txt", "exe.txt"),
        ("..", "attachment"),
        ("", "attachment"),
    ],
)
async def test_two_phase_names_are_sanitised(alice_chat, name, shown):
    status, created = await create(alice_chat, name, 4, "text/plain")

    assert status == 200
    assert created["name"] == shown
    assert (await row(created["id"])).name == shown


async def test_a_very_long_name_is_bounded_and_keeps_its_extension(alice_chat):
    status, created = await create(alice_chat, "a" * 300 + ".txt", 4, "text/plain")

    assert status == 200
    assert len(created["name"]) <= policy.DISPLAY_NAME_MAX
    assert created["name"].endswith("….txt")


def test_display_name_drops_control_and_format_characters():
    assert policy.display_name("a\x00b\u200bc\u202ed\r\n.txt") == "abcd.txt"
    assert policy.display_name("/") == "attachment"


# --- serving and authorisation -----------------------------------------------------------


async def test_the_owner_downloads_with_the_right_headers(alice):
    data = await upload(alice, "notes.txt", b"hello", "text/plain")

    response = await AsyncClient().get(f"/chatkit/attachments/{data['id']}/", headers=bearer(alice))

    assert response.status_code == 200
    assert await body_of(response) == b"hello"
    assert response["Content-Type"] == "text/plain"
    assert response["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"].startswith("private, max-age=")
    assert response["Content-Length"] == "5"


async def test_images_and_pdfs_are_served_inline_and_unicode_names_use_rfc_6266(alice):
    image = await upload(alice, "café.png", PNG, "image/png")
    pdf = await upload(alice, "report.pdf", PDF, "application/pdf")
    client = AsyncClient()
    await client.aforce_login(alice)

    image_response = await client.get(f"/chatkit/attachments/{image['id']}/")
    pdf_response = await client.get(f"/chatkit/attachments/{pdf['id']}/")

    assert image_response["Content-Type"] == "image/png"
    assert image_response["Content-Disposition"] == "inline; filename*=utf-8''caf%C3%A9.png"
    assert await body_of(image_response) == PNG
    assert pdf_response["Content-Type"] == "application/pdf"
    assert pdf_response["Content-Disposition"] == 'inline; filename="report.pdf"'


async def test_another_user_cannot_download_by_bearer_session_or_anonymously(alice, bob):
    data = await upload(alice, "secret.txt", b"secret", "text/plain")
    path = f"/chatkit/attachments/{data['id']}/"
    session = AsyncClient()
    await session.aforce_login(bob)

    assert (await AsyncClient().get(path, headers=bearer(bob))).status_code == 404
    assert (await session.get(path)).status_code == 404
    assert (await AsyncClient().get(path)).status_code == 404


async def test_a_signature_for_another_attachment_is_refused(alice, bob):
    mine = await upload(bob, "bob.png", PNG, "image/png")
    theirs = await upload(alice, "alice.png", PNG, "image/png")
    token = mine["preview_url"].split("?token=")[1]

    response = await AsyncClient().get(f"/chatkit/attachments/{theirs['id']}/?token={token}")

    assert response.status_code == 404


async def test_a_forged_or_expired_signature_is_refused(alice, monkeypatch):
    data = await upload(alice, "a.png", PNG, "image/png")
    url = local(data["preview_url"])
    assert (await AsyncClient().get(url)).status_code == 200

    forged = url[:-3] + ("aaa" if not url.endswith("aaa") else "bbb")
    assert (await AsyncClient().get(forged)).status_code == 404

    long_ago = signing.current_time() - app_settings.ATTACHMENT_URL_MAX_AGE - 3600
    monkeypatch.setattr(signing, "current_time", lambda: long_ago)
    expired = signing.download_url(data["id"], alice.pk, "http://testserver")
    monkeypatch.undo()
    assert (await AsyncClient().get(local(expired))).status_code == 404


async def test_a_signed_link_is_readable_from_the_widgets_frame(alice):
    data = await upload(alice, "a.png", PNG, "image/png")

    response = await AsyncClient().get(local(data["preview_url"]))

    assert response["Access-Control-Allow-Origin"] == "*"


async def test_a_pending_attachment_cannot_be_downloaded(alice, alice_chat):
    _, created = await create(alice_chat, "chart.png", len(PNG), "image/png")

    response = await AsyncClient().get(local(created["preview_url"]))

    assert response.status_code == 404


async def test_staff_with_view_permission_can_download(alice, reviewer):
    data = await upload(alice, "notes.txt", b"hello", "text/plain")
    client = AsyncClient()
    await client.aforce_login(reviewer)

    response = await client.get(f"/chatkit/attachments/{data['id']}/")

    assert response.status_code == 200
    assert await body_of(response) == b"hello"


async def test_staff_without_view_permission_cannot_download(alice, staff):
    data = await upload(alice, "notes.txt", b"hello", "text/plain")
    client = AsyncClient()
    await client.aforce_login(staff)

    response = await client.get(f"/chatkit/attachments/{data['id']}/")

    assert response.status_code == 404


async def test_another_user_cannot_use_an_attachment_in_a_message(alice, bob_chat):
    data = await upload(alice, "notes.txt", b"hello", "text/plain")

    response = await bob_chat.post(
        {"type": "threads.create", "params": {"input": user_input("Mine?", [data["id"]])}}
    )

    assert response.status_code == 404
    assert (await row(data["id"])).thread_id is None


# --- lifecycle ---------------------------------------------------------------------------


async def test_attachments_delete_removes_the_row_and_the_file(alice, alice_chat):
    data = await upload(alice, "notes.txt", b"hello", "text/plain")
    name = (await row(data["id"])).file.name

    status, _ = await alice_chat.call("attachments.delete", attachment_id=data["id"])

    assert status == 200
    assert not await models.Attachment.objects.filter(pk=data["id"]).aexists()
    assert not default_storage.exists(name)
    again, _ = await alice_chat.call("attachments.delete", attachment_id=data["id"])
    assert again == 404


async def test_another_user_cannot_delete_an_attachment(alice, bob_chat):
    data = await upload(alice, "notes.txt", b"hello", "text/plain")
    name = (await row(data["id"])).file.name

    status, _ = await bob_chat.call("attachments.delete", attachment_id=data["id"])

    assert status == 404
    assert await models.Attachment.objects.filter(pk=data["id"]).aexists()
    assert default_storage.exists(name)


async def test_deleting_a_thread_removes_its_attachments_files(alice, alice_chat):
    data = await upload(alice, "a.png", PNG, "image/png")
    name = (await row(data["id"])).file.name
    events = await alice_chat.stream("threads.create", input=user_input("See", [data["id"]]))

    status, _ = await alice_chat.call("threads.delete", thread_id=events[0]["thread"]["id"])

    assert status == 200
    assert not await models.Attachment.objects.filter(pk=data["id"]).aexists()
    assert not default_storage.exists(name)


async def test_an_image_message_round_trips_through_items_list(alice, alice_chat, monkeypatch):
    # Upload and send an hour and a half ago: the signature stored with the item expired.
    earlier = signing.current_time() - 5400
    monkeypatch.setattr(signing, "current_time", lambda: earlier)
    data = await upload(alice, "photo.png", PNG, "image/png")
    thread_id, _ = await alice_chat.create_thread("What is in this picture?")
    await alice_chat.stream(
        "threads.add_user_message",
        thread_id=thread_id,
        input=user_input("And this one?", [data["id"]]),
    )
    monkeypatch.undo()
    assert (await AsyncClient().get(local(data["preview_url"]))).status_code == 404

    status, page = await alice_chat.call("items.list", thread_id=thread_id)

    assert status == 200
    [message] = [item for item in page["data"] if item.get("attachments")]
    [attachment] = message["attachments"]
    assert attachment["id"] == data["id"] and attachment["type"] == "image"
    preview = attachment["preview_url"]
    assert preview.startswith("http://testserver/chatkit/attachments/")
    response = await AsyncClient().get(local(preview))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert await body_of(response) == PNG


# --- to the model ------------------------------------------------------------------------


async def sent(user: Any, chat: ChatKitClient, name: str, content: bytes, mime: str):
    """Upload and send a file; the attachment as the converter receives it."""
    data = await upload(user, name, content, mime)
    await chat.stream("threads.create", input=user_input("Here", [data["id"]]))
    stored = await row(data["id"])
    attachment_type = ImageAttachment if data["type"] == "image" else FileAttachment
    return attachment_type.model_validate({**stored.data, "thread_id": stored.thread_id})


async def test_the_model_gets_an_image_as_a_base64_data_url(alice, alice_chat):
    attachment = await sent(alice, alice_chat, "photo.png", PNG, "image/png")

    content = await SiteItemConverter().attachment_to_message_content(attachment)

    assert content["type"] == "input_image"
    assert content["image_url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()


async def test_the_model_gets_a_text_file_with_its_name_and_a_bounded_excerpt(
    alice, alice_chat, settings
):
    attachment = await sent(alice, alice_chat, "data.csv", b"a,b\n1,2\n", "text/csv")
    content = await SiteItemConverter().attachment_to_message_content(attachment)
    assert content["type"] == "input_text"
    assert "data.csv" in content["text"] and "a,b\n1,2\n" in content["text"]

    settings.CHAT_ATTACHMENT_TEXT_MAX_CHARS = 10
    long = await sent(alice, alice_chat, "long.txt", b"0123456789ABCDEFGHIJ", "text/plain")
    cut = await SiteItemConverter().attachment_to_message_content(long)
    assert "0123456789" in cut["text"] and "ABCDEFGHIJ" not in cut["text"]
    assert "first 10 characters of 20 bytes" in cut["text"]


async def test_the_model_gets_a_pdf_as_a_file(alice, alice_chat):
    attachment = await sent(alice, alice_chat, "report.pdf", PDF, "application/pdf")

    content = await SiteItemConverter().attachment_to_message_content(attachment)

    assert content["type"] == "input_file"
    assert content["filename"] == "report.pdf"
    assert content["file_data"] == "data:application/pdf;base64," + base64.b64encode(PDF).decode()


async def test_files_the_model_cannot_take_are_described(alice, alice_chat, settings):
    image = await sent(alice, alice_chat, "photo.png", PNG, "image/png")
    settings.CHAT_ATTACHMENT_MODEL_MAX_BYTES = 10
    too_large = await SiteItemConverter().attachment_to_message_content(image)
    assert too_large["type"] == "input_text"
    assert "photo.png" in too_large["text"] and "too large" in too_large["text"]

    other = FileAttachment(
        id="atc_other", name="model.stl", mime_type="model/stl", thread_id=image.thread_id
    )
    described = await SiteItemConverter().attachment_to_message_content(other)
    assert described["type"] == "input_text"
    assert "model.stl" in described["text"] and "model/stl" in described["text"]


async def test_a_file_gone_from_storage_is_described_not_fatal(alice, alice_chat):
    attachment = await sent(alice, alice_chat, "notes.txt", b"hello", "text/plain")
    default_storage.delete((await row(attachment.id)).file.name)

    content = await SiteItemConverter().attachment_to_message_content(attachment)

    assert content["type"] == "input_text"
    assert "no longer available" in content["text"]


async def test_a_turn_hands_the_attachments_to_the_model(alice, alice_chat, monkeypatch):
    seen: list[Any] = []
    original = DemoModel.stream_response

    def spy(self, system_instructions, input, *args, **kwargs):
        seen.append(input)
        return original(self, system_instructions, input, *args, **kwargs)

    monkeypatch.setattr(DemoModel, "stream_response", spy)
    image = await upload(alice, "photo.png", PNG, "image/png")
    text = await upload(alice, "notes.md", b"# Plan\n", "text/markdown")

    await alice_chat.stream(
        "threads.create", input=user_input("Read these", [image["id"], text["id"]])
    )

    [model_input] = seen
    user_message = [item for item in model_input if item.get("role") == "user"][-1]
    parts = {part["type"]: part for part in user_message["content"][1:]}
    assert parts["input_image"]["image_url"].startswith("data:image/png;base64,")
    assert "# Plan" in parts["input_text"]["text"]


# --- the page's options ------------------------------------------------------------------


def test_composer_options_announce_the_servers_limits(settings):
    settings.CHAT_ATTACHMENT_MAX_BYTES = 1234
    settings.CHAT_ATTACHMENTS_PER_MESSAGE = 3
    settings.CHAT_ATTACHMENT_TYPES = ["image/png", "text/markdown"]

    options = policy.composer_attachment_options()

    assert options == {
        "enabled": True,
        "maxSize": 1234,
        "maxCount": 3,
        "accept": {"image/png": [".png"], "text/markdown": [".md", ".markdown"]},
    }


def test_upload_strategy_option_follows_the_setting(settings, rf):
    request = rf.get("/")
    assert upload_strategy_option(request) == {"type": "two_phase"}
    settings.CHAT_ATTACHMENT_UPLOAD_STRATEGY = "direct"
    assert upload_strategy_option(request) == {
        "type": "direct",
        "uploadUrl": "http://testserver/chatkit/upload/",
    }
