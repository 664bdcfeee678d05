"""The offline demo's start-screen prompts are shown and sent in the page's language, and
the demo model reacts to them in French as it does in English."""

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
