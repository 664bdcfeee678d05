"""What a French user sees in French: the pages added late (about, My data), and the
offline demo's start-screen prompts, which are shown and sent in the page's language (the
demo model reacts to them in French as it does in English)."""

import json
import re

import pytest
from django.utils import translation

from chat.assistant.demo_model import planned_tool_call, wants_sources
from chat.templatetags.chat_widget import demo_prompts

TOOLS = {"show_demo_widget", "switch_theme", "celebrate", "long_task", "ask_preferences"}
# What each prompt (by its icon) makes the demo do.
EXPECTED = {
    "sparkle": ("show_demo_widget", {}),
    "lightbulb": ("switch_theme", {"theme": "dark"}),
    "confetti": ("celebrate", {}),
    "bolt": ("long_task", {}),
    "circle-question": ("ask_preferences", {}),
}


def sent(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_demo_prompt_sets_off_its_demo_in_the_pages_language(language):
    with translation.override(language):
        prompts = demo_prompts()
    assert {prompt["icon"] for prompt in prompts} == set(EXPECTED) | {"book-open"}
    for prompt in prompts:
        if prompt["icon"] == "book-open":
            assert wants_sources(sent(prompt["prompt"])), prompt
            assert planned_tool_call(sent(prompt["prompt"]), TOOLS) is None
        else:
            assert planned_tool_call(sent(prompt["prompt"]), TOOLS) == EXPECTED[prompt["icon"]]


def test_the_french_prompts_and_labels_are_french():
    with translation.override("fr"):
        prompts = {prompt["icon"]: prompt for prompt in demo_prompts()}
    assert prompts["lightbulb"] == {
        "label": "Changer le thème de la page",
        "prompt": "Passe en mode sombre",
        "icon": "lightbulb",
    }
    assert prompts["confetti"]["prompt"] == "Faisons la fête !"


@pytest.mark.parametrize(
    "text",
    ["Le mode sombre est-il meilleur pour les yeux ?", "Tu pourras me poser une question ?"],
)
def test_everyday_french_does_not_set_off_the_demos_tools(text):
    assert planned_tool_call(sent(text), TOOLS) is None
    assert not wants_sources(sent(text))


@pytest.mark.django_db
def test_the_pages_and_the_start_screen_are_in_french(client, alice):
    client.force_login(alice)
    home = client.get("/", headers={"accept-language": "fr"}).content.decode()
    assert '<a href="/my-data/">Mes données</a>' in home
    config = json.loads(
        re.search(r'<script id="chat-config" type="application/json">(.*?)</script>', home, re.S)[1]
    )
    labels = [prompt["label"] for prompt in config["chatkit"]["startScreen"]["prompts"]]
    assert "Changer le thème de la page" in labels and "Faisons la fête" in labels
    tools = config["chatkit"]["composer"]["tools"]
    assert [tool["label"] for tool in tools] == ["Chercher dans mes conversations"]

    about = client.get("/about/", headers={"accept-language": "fr"}).content.decode()
    assert "L’assistant répond dans le panneau flottant" in about
    assert "This site is" not in about
