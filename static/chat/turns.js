// A thread's answer runs on the server as a job of its own: it goes on when the page
// that asked for it is left. This is the page's handle on it, for both chat clients:
// stop it (wherever it runs; the partial answer is kept) or resume it (its events from the
// first one, then live, as server-sent events). The endpoints come from the page config
// (`turnUrls`, with `threadIdPlaceholder` standing for the thread's id).

/** A stop or resume request the server refused (`status`, and its `detail` if any). */
export class TurnRequestError extends Error {
  constructor(status, detail = "") {
    super(`The server answered HTTP ${status}${detail ? `: ${detail}` : ""}`);
    this.name = "TurnRequestError";
    this.status = status;
    this.detail = detail;
  }
}

/**
 * The turn endpoints of `config`, called through `chatFetch` (Bearer token, one renewal
 * on a 401). Returns { stop(threadId), resume(threadId, { signal }) }.
 */
export function createTurnApi({ config, chatFetch }) {
  const urls = config.turnUrls;
  const urlFor = (template, threadId) =>
    template.replace(config.threadIdPlaceholder, encodeURIComponent(threadId));

  return {
    /**
     * Stop the thread's running answer. Resolves once the server has stored what was
     * said so far: true if an answer was running, false if none was.
     */
    async stop(threadId) {
      const response = await chatFetch(urlFor(urls.stop, threadId), {
        method: "POST",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) {
        throw await refused(response);
      }
      const body = await response.json();
      return Boolean(body?.stopped);
    },

    /**
     * The thread's running answer as a streaming response (server-sent events, replayed
     * from the answer's first event), or null when no answer is running.
     */
    async resume(threadId, { signal } = {}) {
      const response = await chatFetch(urlFor(urls.resume, threadId), {
        method: "GET",
        headers: { Accept: "text/event-stream" },
        signal,
      });
      if (response.status === 204) {
        return null;
      }
      if (!response.ok) {
        throw await refused(response);
      }
      return response;
    },
  };
}

async function refused(response) {
  let detail = "";
  try {
    const body = await response.json();
    detail = typeof body?.detail === "string" ? body.detail : "";
  } catch {
    // Not JSON: the status says enough.
  }
  return new TurnRequestError(response.status, detail);
}
