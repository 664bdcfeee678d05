"""DRF's error answers in the site's one shape: `{"detail": "..."}`.

DRF answers a validation error with one key per field (`{"username": ["This field is
required."]}`); every other JSON endpoint of the site answers `{"detail": message}`. The
per-field messages are folded into one readable `detail`, and kept under `fields` for
clients that want to mark the form.
"""

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def flatten(errors: Any, prefix: str = "") -> list[str]:
    """`{"username": ["This field is required."]}` -> `["username: This field is required."]`."""
    if isinstance(errors, dict):
        lines = []
        for key, value in errors.items():
            name = "" if key == "non_field_errors" else f"{prefix}{key}"
            lines += flatten(value, f"{name}." if name else "")
        return lines
    if isinstance(errors, list):
        return [line for error in errors for line in flatten(error, prefix)]
    label = prefix.rstrip(".")
    return [f"{label}: {errors}" if label else str(errors)]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None or (isinstance(response.data, dict) and "detail" in response.data):
        return response
    response.data = {"detail": " ".join(flatten(response.data)), "fields": response.data}
    return response
