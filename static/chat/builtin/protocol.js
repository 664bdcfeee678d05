// The ChatKit protocol as the built-in client speaks it: JSON requests to the endpoint,
// and streaming requests whose server-sent events are read from the fetch body as they
// arrive. Every request goes through the page's chatFetch, so the Bearer token, the 401
// renewal and the page context are exactly those of the ChatKit widget.

import { createEventStreamParser } from "../sse.js";
import { gettext, interpolate, ngettext } from "../i18n.js";

/** A request the server refused, or that never reached it, in words a user can read. */
export class ChatRequestError extends Error {
  constructor(message, { status = 0, retryable = false } = {}) {
    super(message);
    this.name = "ChatRequestError";
    this.status = status;
    this.retryable = retryable;
  }
}

/** What an HTTP error status means for the user; `retryAfter`: seconds, from Retry-After. */
export function describeHttpError(status, detail, retryAfter = null) {
  const said = detail ? ` ${detail}` : "";
  if (status === 401) {
    return gettext("Your session has ended. Log in again to keep chatting.");
  }
  if (status === 404) {
    return gettext("This conversation no longer exists.");
  }
  if (status === 413) {
    return gettext("That is too large for the assistant.") + said;
  }
  if (status === 429) {
    // The server says which limit it was (messages, today's tokens, answers running), in
    // the page's language; the client adds when to try again.
    return (detail || gettext("You have sent too many messages for now.")) + " " + whenToRetry(retryAfter);
  }
  if (status >= 500) {
    const wait = retryAfter ? ` ${whenToRetry(retryAfter)}` : "";
    return gettext("The assistant is temporarily unavailable.") + (said || wait || ` ${gettext("Please try again.")}`);
  }
  return gettext("The request was refused.") + said;
}

/** "You can send again in 2 minutes." from a Retry-After of `seconds`. */
export function whenToRetry(seconds) {
  if (!(seconds > 0)) {
    return gettext("Please wait a moment and try again.");
  }
  if (seconds < 90) {
    return interpolate(ngettext("You can send again in %(n)s second.", "You can send again in %(n)s seconds.", seconds), { n: seconds });
  }
  const minutes = Math.ceil(seconds / 60);
  return interpolate(ngettext("You can send again in %(n)s minute.", "You can send again in %(n)s minutes.", minutes), { n: minutes });
}

/** Retry-After (seconds, or an HTTP date) as whole seconds from now; null when absent. */
export function retryAfterSeconds(value, now = Date.now()) {
  if (!value) {
    return null;
  }
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) : Math.round((Date.parse(value) - now) / 1000);
  return Number.isFinite(seconds) ? Math.max(1, seconds) : null;
}

/**
 * The protocol over `chatFetch` at `url` (the endpoint, e.g. /chatkit/); `turns` is the
 * page's turn API (static/chat/turns.js) for the answers that run on the server.
 * Returns { call(type, params), stream(type, params, { signal, onEvent }),
 * follow(threadId, { signal, onEvent }), stopTurn(threadId), upload(url, form) }.
 */
export function createProtocol({ url, chatFetch, turns }) {
  async function send(body, init = {}) {
    let response;
    try {
      response = await chatFetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...init.headers },
        body: JSON.stringify(body),
        signal: init.signal,
      });
    } catch (error) {
      throw unreachable(error);
    }
    if (!response.ok) {
      throw await responseError(response);
    }
    return response;
  }

  // The events of a streaming response as they arrive: "complete" when the server ended
  // the stream, "stopped" when `signal` aborted it.
  async function readEvents(response, { signal, onEvent }) {
    const parser = createEventStreamParser(onEvent);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        parser.push(value);
      }
    } catch (error) {
      if (signal?.aborted) {
        return "stopped";
      }
      const lostConnection = new ChatRequestError(
        gettext("The connection was lost while the assistant was answering."),
        { retryable: true },
      );
      // The answer itself goes on on the server: it can be resumed.
      lostConnection.lost = true;
      throw lostConnection;
    }
    parser.end();
    return "complete";
  }

  return {
    /** A non-streaming request; resolves to the decoded JSON answer. */
    async call(type, params) {
      const response = await send({ type, params });
      return response.json();
    },

    /**
     * A streaming request. `onEvent` gets every event as soon as its bytes arrive.
     * Resolves to "complete", or "stopped" when `signal` aborted it.
     */
    async stream(type, params, { signal, onEvent }) {
      let response;
      try {
        response = await send({ type, params }, { signal, headers: { Accept: "text/event-stream" } });
      } catch (error) {
        if (signal?.aborted) {
          return "stopped";
        }
        throw error;
      }
      return readEvents(response, { signal, onEvent });
    },

    /**
     * Follow the answer running in `threadId`, from its first event (the server replays
     * it) until it ends. `ready()` runs once the server has said whether one runs, before
     * any event is handed to `onEvent`. Resolves to "none" when no answer is running,
     * else like stream().
     */
    async follow(threadId, { signal, onEvent, ready = async () => {} }) {
      let response;
      try {
        response = await turns.resume(threadId, { signal });
      } catch (error) {
        if (signal?.aborted) {
          return "stopped";
        }
        throw error.name === "TurnRequestError" ? refusal(error.status, error.detail) : unreachable(error);
      }
      if (!response) {
        await ready(false);
        return "none";
      }
      try {
        await ready(true);
      } catch (error) {
        response.body.cancel().catch(() => {});
        throw error;
      }
      if (signal?.aborted) {
        response.body.cancel().catch(() => {});
        return "stopped";
      }
      return readEvents(response, { signal, onEvent });
    },

    /**
     * A request to one of the site's own JSON endpoints (search, item states, feedback,
     * edit): `method`, `path`, an optional JSON `body`; resolves to the decoded answer.
     */
    async rest(method, path, body = undefined) {
      let response;
      try {
        response = await chatFetch(path, {
          method,
          headers: body === undefined ? {} : { "Content-Type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (error) {
        throw unreachable(error);
      }
      if (!response.ok) {
        throw await responseError(response);
      }
      return response.json();
    },

    /** Stop the answer running in `threadId`; resolves once the server kept what it had. */
    stopTurn(threadId) {
      return turns.stop(threadId);
    },

    /** POST a multipart form (a direct upload) through chatFetch; the decoded JSON. */
    async upload(uploadUrl, form) {
      let response;
      try {
        response = await chatFetch(uploadUrl, { method: "POST", body: form });
      } catch (error) {
        throw unreachable(error);
      }
      if (!response.ok) {
        throw await responseError(response);
      }
      return response.json();
    },
  };
}

function unreachable(error) {
  if (error?.name === "SessionEndedError" || error?.name === "AbortError") {
    return error;
  }
  return new ChatRequestError(
    gettext("The assistant could not be reached. Check your connection and try again."),
    { retryable: true },
  );
}

/** The server's `{"detail": ...}` (or the status) as a ChatRequestError. */
export async function responseError(response) {
  let detail = "";
  try {
    const body = await response.json();
    detail = typeof body?.detail === "string" ? body.detail : "";
  } catch {
    // Not JSON: the status says enough.
  }
  return refusal(response.status, detail, retryAfterSeconds(response.headers.get("Retry-After")));
}

function refusal(status, detail, retryAfter = null) {
  return new ChatRequestError(describeHttpError(status, detail, retryAfter), {
    status,
    retryable: status === 429 || status >= 500,
  });
}
