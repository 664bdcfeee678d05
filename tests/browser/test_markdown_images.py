"""The built-in client's Markdown shows images only from allowed origins: a prompt
injection cannot make the page fetch a tracking pixel from elsewhere (CHAT_IMAGE_ORIGINS)."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RENDER = """async (markdown) => {
    const { renderMarkdown, imageAllowed } = await import('/static/chat/builtin/markdown.js');
    const box = document.createElement('div');
    box.append(renderMarkdown(markdown));
    return {
        sources: [...box.querySelectorAll('img')].map(img => img.getAttribute('src')),
        text: box.textContent,
        allowedElsewhere: imageAllowed('https://images.example.com/a.png',
                                       ['https://images.example.com']),
    };
}"""


def test_images_from_other_origins_are_replaced_by_their_alt_text(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="abort")
    site.login("alice")

    rendered = site.page.evaluate(
        RENDER,
        "\n\n".join(
            [
                "![pixel](https://tracker.example/p.png?user=alice)",
                "![protocol relative](//tracker.example/q.png)",
                "![ours](/static/chat/icon.png)",
                "![inline](data:image/png;base64,iVBORw0KGgo=)",
            ]
        ),
    )

    assert rendered["sources"] == ["/static/chat/icon.png", "data:image/png;base64,iVBORw0KGgo="]
    assert "pixel" in rendered["text"] and "protocol relative" in rendered["text"]
    assert rendered["allowedElsewhere"] is True
