"""CHAT_IMAGE_ORIGINS: the origins Markdown images may load from, in the page config (for
static/chat/builtin/markdown.js) and the Content-Security-Policy."""

import pytest
from django.test import RequestFactory

from chat.conf import app_settings
from chat.setting_parsers import InvalidValue, origins
from chat.templatetags.chat_widget import widget_config
from chatsite.middleware import content_security_policy


@pytest.mark.django_db
def test_the_page_config_and_the_policy_name_the_allowed_origins(alice, settings):
    settings.CHAT_IMAGE_ORIGINS = ["https://Images.example.com/"]
    request = RequestFactory().get("/")
    request.user = alice

    config = widget_config(request)

    assert config["imageOrigins"] == ["https://images.example.com"]
    assert config["limitsUrl"] == "/chatkit/limits/"
    img_src = next(d for d in content_security_policy().split("; ") if d.startswith("img-src"))
    assert (
        img_src
        == "img-src 'self' data: blob: https://cdn.platform.openai.com https://images.example.com"
    )


def test_no_external_images_by_default():
    assert app_settings.IMAGE_ORIGINS == ()


@pytest.mark.parametrize("value", [["javascript:alert(1)"], ["https://x.example/path"], "x"])
def test_an_origin_that_is_not_one_is_refused(value):
    with pytest.raises(InvalidValue):
        origins(value)
