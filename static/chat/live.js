// Live sync: one websocket per page to the site's /ws/chat/ (the page config's `liveUrl`),
// shared by whichever chat client runs. The server tells every open tab of the user what
// happened to their conversations: thread.created / thread.updated / thread.deleted,
// turn.started / turn.finished. A dropped connection comes back with backoff; a page
// being left closes it and sends nothing.
//
// Subscribers get the server's messages as they are, plus two of this module's own:
// {type: "live.ready", reconnected} once the server has authenticated the socket
// (reconnected: notices may have been missed while it was down, so look again), and
// {type: "live.lost"} when it drops.

// Backoff after a drop: doubling from the first delay up to the last, with jitter.
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
// A page of the site is authenticated by its session cookie on connect; if the server
// has not said "ready" by then, the socket is given an access token instead.
const TOKEN_AFTER_MS = 1_500;

/** Exponential backoff with jitter for the `attempt`-th reconnection (0-based). */
export function reconnectDelay(attempt, random = Math.random) {
  const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** ws: or wss: URL of `url` (a path or an http(s) URL) relative to the page. */
export function socketUrl(url, base = window.location.href) {
  const absolute = new URL(url, base);
  if (absolute.protocol === "http:" || absolute.protocol === "https:") {
    absolute.protocol = absolute.protocol === "https:" ? "wss:" : "ws:";
  }
  return absolute.href;
}

/**
 * Connect to `url` at once and stay connected. `tokens` ({get}) authenticates the socket
 * when the session cookie does not. Returns { subscribe(listener) -> unsubscribe,
 * send(message) -> sent?, isReady() }.
 */
export function createLive({ url, tokens = null, win = window }) {
  const listeners = new Set();
  let socket = null;
  let ready = false;
  let everReady = false;
  let attempt = 0;
  let retryTimer = 0;
  let leaving = false;

  function emit(message) {
    for (const listener of [...listeners]) {
      try {
        listener(message);
      } catch (error) {
        console.error("A live-sync listener failed", error);
      }
    }
  }

  function connect() {
    clearTimeout(retryTimer);
    if (leaving || socket) {
      return;
    }
    let ws;
    try {
      ws = new win.WebSocket(socketUrl(url, win.location.href));
    } catch (error) {
      console.error("Live sync could not connect", error);
      retry();
      return;
    }
    socket = ws;
    let tokenTimer = 0;
    ws.addEventListener("open", () => {
      if (tokens) {
        tokenTimer = setTimeout(() => authenticate(ws), TOKEN_AFTER_MS);
      }
    });
    ws.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message?.type === "ready") {
        clearTimeout(tokenTimer);
        ready = true;
        attempt = 0;
        const reconnected = everReady;
        everReady = true;
        emit({ type: "live.ready", reconnected });
      } else if (message && typeof message.type === "string") {
        emit(message);
      }
    });
    ws.addEventListener("close", () => {
      clearTimeout(tokenTimer);
      if (socket !== ws) {
        return;
      }
      socket = null;
      const wasReady = ready;
      ready = false;
      if (wasReady) {
        emit({ type: "live.lost" });
      }
      retry();
    });
  }

  async function authenticate(ws) {
    if (ready || socket !== ws || ws.readyState !== ws.OPEN) {
      return;
    }
    try {
      const token = await tokens.get();
      if (!ready && socket === ws && ws.readyState === ws.OPEN) {
        ws.send(JSON.stringify({ type: "auth", token }));
      }
    } catch (error) {
      // The session is gone: the server closes the socket, and the backoff slows down.
      console.error("Live sync could not authenticate", error);
    }
  }

  function retry() {
    if (leaving) {
      return;
    }
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, reconnectDelay(attempt));
    attempt += 1;
  }

  // Leaving the page (or going into the back/forward cache) closes the socket without a
  // word; coming back from that cache connects again, as a reconnection.
  win.addEventListener("pagehide", () => {
    leaving = true;
    clearTimeout(retryTimer);
    const ws = socket;
    socket = null;
    ready = false;
    ws?.close();
  });
  win.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      leaving = false;
      attempt = 0;
      connect();
    }
  });
  // Back online: no need to wait for the backoff.
  win.addEventListener("online", () => {
    if (!socket && !leaving) {
      attempt = 0;
      connect();
    }
  });

  connect();

  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    send(message) {
      if (!ready || socket?.readyState !== socket?.OPEN) {
        return false;
      }
      socket.send(JSON.stringify(message));
      return true;
    },
    isReady: () => ready,
  };
}
