"""Dictation (`input.transcribe`): speech to text through the configured provider.

The audio goes to OpenAI's transcription API, or to the `/audio/transcriptions` route of
the OpenAI-compatible server at CHAT_MODEL_BASE_URL, with the model named by
CHAT_TRANSCRIPTION_MODEL. Without one, dictation is off: the widget is not offered the
microphone (`composer.dictation`), and a request says how to turn it on.
"""

import base64
import binascii
import logging

import openai
from chatkit.types import AudioInput, TranscriptionResult
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext

from chat.conf import app_settings
from chat.errors import AttachmentRejected, BadRequest, Unavailable

logger = logging.getLogger(__name__)

# What browsers record (ChatKit sends one of the first three), by media type.
AUDIO_TYPES = {
    "audio/webm": "webm",
    "audio/ogg": "ogg",
    "audio/mp4": "mp4",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
}

HOW_TO_ENABLE = (
    "Dictation is not enabled on this site. To turn it on, set CHAT_TRANSCRIPTION_MODEL "
    "(for example gpt-4o-mini-transcribe) together with OPENAI_API_KEY, or with "
    "CHAT_MODEL_BASE_URL for an OpenAI-compatible server that offers /audio/transcriptions."
)


def available() -> bool:
    """Whether dictation can work: a transcription model and a provider to run it."""
    return bool(
        app_settings.TRANSCRIPTION_MODEL
        and (app_settings.OPENAI_API_KEY or app_settings.MODEL_BASE_URL)
    )


def media_type(mime_type: str) -> str:
    return mime_type.split(";", 1)[0].strip().lower()


def recording_too_large(limit: int) -> str:
    return gettext("The recording is larger than %(limit)s.") % {"limit": filesizeformat(limit)}


def check_audio(audio_base64: str, mime_type: str) -> None:
    """Refuse up front: dictation off (400 saying how to enable it), a type that is not
    audio a browser records (415), a recording above CHAT_DICTATION_MAX_BYTES (413), or
    bytes that are not base64 (400)."""
    if not available():
        raise BadRequest(HOW_TO_ENABLE)
    if media_type(mime_type) not in AUDIO_TYPES:
        accepted = ", ".join(sorted(AUDIO_TYPES))
        raise AttachmentRejected(
            415,
            gettext("Audio of type %(type)s is not accepted (%(accepted)s).")
            % {"type": mime_type, "accepted": accepted},
        )
    limit = app_settings.DICTATION_MAX_BYTES
    if len(audio_base64) * 3 // 4 > limit + 2:
        raise AttachmentRejected(413, recording_too_large(limit))
    try:
        data = base64.b64decode(audio_base64, validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequest("params.audio_base64 is not valid base64.") from error
    if not data:
        raise BadRequest("params.audio_base64 is empty.")
    if len(data) > limit:
        raise AttachmentRejected(413, recording_too_large(limit))


async def transcribe(audio: AudioInput) -> TranscriptionResult:
    """The text of the recording, from the provider (503 when it fails)."""
    from chat.assistant.agent import openai_client

    if not available():
        raise BadRequest(HOW_TO_ENABLE)
    client = openai_client(
        app_settings.MODEL_BASE_URL, app_settings.OPENAI_API_KEY, app_settings.MODEL_TIMEOUT
    )
    kind = media_type(audio.mime_type)
    try:
        result = await client.audio.transcriptions.create(
            model=app_settings.TRANSCRIPTION_MODEL,
            file=(f"dictation.{AUDIO_TYPES.get(kind, 'webm')}", audio.data, kind),
        )
    except openai.OpenAIError as error:
        logger.warning("Transcription failed: %r", error)
        message = gettext("The transcription service did not answer. Please retry.")
        raise Unavailable(message) from error
    return TranscriptionResult(text=getattr(result, "text", "") or "")
