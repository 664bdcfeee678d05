// The fetch every ChatKit request goes through (ChatKit's `api.fetch`, and the built-in
// client's requests): the page context goes into the body, the Bearer token into the
// header; a 401 gets one token renewal and one retry. The widget's fetch adds to that
// what the widget's stop button means now that answers outlive their request.

import { createEventStreamParser } from "./sse.js";

/**
 * A fetch-compatible function for the ChatKit endpoint.
 * `tokens` is a token source ({get, renew}), `pageContext` has apply(body).
 */
export function createChatFetch({ tokens, pageContext }) {
  return async function chatFetch(input, init = {}) {
    const body = pageContext.apply(init.body);
    const send = (token) => fetch(input, withBearer({ ...init, body }, token));
    const response = await send(await tokens.get());
    if (response.status !== 401) {
      return response;
    }
    // Expired or revoked: one fresh token, one retry. A second 401 goes back to the caller.
    return send(await tokens.renew());
  };
}

function withBearer(init, token) {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${token}`);
  return { ...init, headers };
}

// ChatKit requests that stream a turn of a thread (the server runs it as a job of its own).
const STREAMING_REQUESTS = new Set([
  "threads.create",
  "threads.add_user_message",
  "threads.retry_after_item",
  "threads.add_client_tool_output",
  "threads.add_structured_input",
  "threads.custom_action",
]);
// How long after `beforeunload` the page still counts as being left: a navigation that
// does not happen (a download, a 204) must not keep the stop button from working.
const LEAVING_GRACE_MS = 5_000;

/**
 * Whether the page is being left: from `beforeunload` (for a while) or `pagehide` until the
 * page is shown again. Returns a function answering that.
 */
export function watchPageLeaving(win = window) {
  let leaving = false;
  let timer = 0;
  win.addEventListener("beforeunload", () => {
    leaving = true;
    clearTimeout(timer);
    timer = setTimeout(() => {
      leaving = false;
    }, LEAVING_GRACE_MS);
  });
  win.addEventListener("pagehide", () => {
    clearTimeout(timer);
    leaving = true;
  });
  win.addEventListener("pageshow", () => {
    clearTimeout(timer);
    leaving = false;
  });
  return () => leaving;
}

// One watcher per page, started when this module loads: before the widget's script
// (fetched later) can add listeners of its own.
let leavingWatcher = null;
function pageLeaving() {
  leavingWatcher ??= watchPageLeaving();
  return leavingWatcher;
}
if (typeof window !== "undefined") {
  pageLeaving();
}

/**
 * The ChatKit widget's fetch. The widget's stop button aborts its request; the server no
 * longer stops an answer when its request goes away (the answer outlives the page), so
 * an abort of a streaming request, while the page stays open, becomes a stop request for
 * the thread (`stopTurn(threadId)`). A page being left sends nothing: the answer goes on.
 *
 * Returns the fetch function, with `isStreaming(threadId)`: whether one of the widget's
 * own requests is streaming an answer of that thread right now, and
 * `streamedSince(threadId, time)`: whether one was at any moment since `time`
 * (performance.now()).
 */
export function createWidgetFetch({ chatFetch, stopTurn, isLeaving = pageLeaving() }) {
  const streaming = new Map(); // thread id -> streams of the widget in flight
  const lastEnded = new Map(); // thread id -> when the widget's last stream of it ended

  function count(threadId, step) {
    const next = (streaming.get(threadId) ?? 0) + step;
    if (next > 0) {
      streaming.set(threadId, next);
    } else {
      streaming.delete(threadId);
      lastEnded.set(threadId, performance.now());
    }
  }

  async function widgetFetch(input, init = {}) {
    const request = streamingRequest(init.body);
    if (!request) {
      return chatFetch(input, init);
    }
    const outer = init.signal;
    if (outer?.aborted) {
      throw abortError(outer);
    }
    // The request runs on a signal of its own: given up by the widget before the server
    // has answered, it still goes on until the answer it started can be named and stopped.
    const inner = new AbortController();
    const turn = { threadId: request.params?.thread_id ?? null, counted: false, ended: false };
    let response = null; // the server's answer, once it came
    let unread = null; // its body, when the widget gave up before it came
    let stopping = false; // the widget stopped the answer and the page stays
    let rejectEarly = null;

    const known = (threadId) => {
      if (!turn.counted) {
        turn.threadId = threadId;
        turn.counted = true;
        count(threadId, 1);
      }
    };
    const end = () => {
      if (!turn.ended) {
        turn.ended = true;
        outer?.removeEventListener("abort", onAbort);
        if (turn.counted) {
          count(turn.threadId, -1);
        }
      }
    };
    const stop = () => {
      if (!turn.threadId) {
        console.error("The answer could not be stopped: its conversation is not known yet.");
        return;
      }
      stopTurn(turn.threadId).catch((error) => console.error("The answer could not be stopped", error));
    };
    // Stop the answer as soon as both are known: that the user stopped it, and its thread
    // (a body nobody reads any more is read until the thread is named).
    const stopAnswer = () => {
      if (unread) {
        stopOnceKnown(unread, turn, stop);
      } else if (response) {
        stop();
      }
    };

    function onAbort() {
      rejectEarly?.(abortError(outer));
      if (response) {
        inner.abort(outer.reason); // the widget's reader fails at once, as it expects
      }
      // Decided once this event is over: when the page is being left, the widget may be
      // tearing itself down from a listener of the same beforeunload or pagehide that runs
      // before the one that notes the leaving.
      setTimeout(() => {
        if (isLeaving()) {
          // The page goes, and its request with it; the answer goes on on the server.
          inner.abort(outer.reason);
          unread?.cancel().catch(() => {});
          return;
        }
        stopping = true;
        stopAnswer();
      }, 0);
    }
    outer?.addEventListener("abort", onAbort, { once: true });
    if (turn.threadId) {
      // Streaming from now on: the server announces the answer before it answers this.
      known(turn.threadId);
    }

    const answer = chatFetch(input, { ...init, signal: inner.signal }).then(
      (answered) => {
        response = answered;
        if (!answered.ok || !answered.body) {
          end();
          return answered;
        }
        const body = watchedBody(answered.body, {
          // threads.create: the thread's id comes in the stream's first event.
          onEvent: turn.threadId ? null : (event) => {
            if (event.type === "thread.created" && event.thread?.id) {
              known(event.thread.id);
              return true;
            }
            return false;
          },
          onEnd: end,
        });
        if (outer?.aborted) {
          // The widget gave up while the server was storing its message.
          unread = body;
          if (stopping) {
            stopAnswer();
          }
          return null;
        }
        return new Response(body, {
          status: answered.status,
          statusText: answered.statusText,
          headers: answered.headers,
        });
      },
      (error) => {
        end();
        throw error;
      },
    );
    const early = new Promise((_, reject) => {
      rejectEarly = reject;
    });
    return Promise.race([answer, early]);
  }

  widgetFetch.isStreaming = (threadId) => streaming.has(threadId);
  widgetFetch.streamedSince = (threadId, time) =>
    streaming.has(threadId) || (lastEnded.get(threadId) ?? -Infinity) >= time;
  return widgetFetch;
}

/** The parsed body of a streaming ChatKit request, or null for anything else. */
function streamingRequest(body) {
  if (typeof body !== "string") {
    return null;
  }
  try {
    const request = JSON.parse(body);
    return STREAMING_REQUESTS.has(request?.type) ? request : null;
  } catch {
    return null;
  }
}

// Read `body` (nobody else will) until the thread is known, then stop its answer and let
// the rest of the stream go.
async function stopOnceKnown(body, turn, stop) {
  const reader = body.getReader();
  try {
    while (!turn.threadId) {
      const { done } = await reader.read();
      if (done) {
        return;
      }
    }
    stop();
  } catch {
    // The stream broke: there is no answer left to stop.
  } finally {
    reader.cancel().catch(() => {});
  }
}

function abortError(signal) {
  return signal?.reason instanceof Error ? signal.reason : new DOMException("The request was aborted.", "AbortError");
}

// `body` passed on unchanged, with `onEnd` when it ends however it ends (done, aborted,
// cancelled by the reader), and its events handed to `onEvent` until it returns true.
function watchedBody(body, { onEvent, onEnd }) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let seenEnough = false;
  let parser = onEvent
    ? createEventStreamParser((event) => {
        seenEnough ||= onEvent(event);
      })
    : null;
  return new ReadableStream({
    async pull(controller) {
      let result;
      try {
        result = await reader.read();
      } catch (error) {
        onEnd();
        controller.error(error);
        return;
      }
      if (result.done) {
        onEnd();
        controller.close();
        return;
      }
      if (parser) {
        parser.push(decoder.decode(result.value, { stream: true }));
        if (seenEnough) {
          parser = null;
        }
      }
      controller.enqueue(result.value);
    },
    cancel(reason) {
      onEnd();
      parser = null;
      return reader.cancel(reason);
    },
  });
}
