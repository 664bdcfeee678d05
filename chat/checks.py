"""System checks: every CHAT_* setting parsed and validated once, at start-up.

`manage.py check` (and `migrate` and `runserver`, which run the checks first) fails with
one error per bad setting, naming it, its value, what is wrong and what is expected. The
parsing lives in chat/conf.py (the parsers in chat/setting_parsers.py), which keeps each
value it parsed here for the requests to come.
"""

import os
from typing import Any

from django.core.checks import CheckMessage, Error, Warning

from chat.conf import SETTINGS, app_settings, unread_variables
from chat.setting_parsers import PREFIX, UNKNOWN_SETTING


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = [
        Error(problem.message, hint=problem.hint, id=problem.check_id)
        for problem in app_settings.problems()
    ]
    messages += [
        Warning(
            f"{name} is not a setting of the chat app and is ignored.",
            hint="Check its spelling against the README's settings table.",
            id=UNKNOWN_SETTING,
        )
        for name in app_settings.unknown()
    ]
    messages += [
        Warning(
            f"The environment variable {name} is not read by this site.",
            hint="It is a Django setting only: set it in the settings module."
            if name.removeprefix(PREFIX) in SETTINGS
            else "Check its spelling against the README's settings table.",
            id=UNKNOWN_SETTING,
        )
        for name in unread_variables(os.environ)
    ]
    return messages
