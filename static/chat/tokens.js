// Access tokens for the Bearer-only ChatKit endpoint. The page trades its session (plus
// the CSRF token) at /api/token/session/ for a token that lives a few minutes; it is
// renewed shortly before it expires, and on demand when the server rejects it.

import { gettext, interpolate } from "./i18n.js";

/** The session behind the page is gone (logged out, or another user logged in). */
export class SessionEndedError extends Error {
  constructor(message) {
    super(message);
    this.name = "SessionEndedError";
  }
}

/** Milliseconds after issue at which a token of `expiresIn` seconds is renewed. */
export function renewalDelay(expiresIn) {
  const lifetime = Math.max(0, Number(expiresIn) || 0) * 1000;
  // A fifth of the lifetime, at most 30 s, absorbs clock skew and request latency.
  return lifetime - Math.min(30_000, lifetime / 5);
}

/**
 * A token source for the logged-in user `userId`.
 * Returns { get(), renew() }: both resolve to an access token string. Concurrent
 * callers share one request.
 */
export function createTokenSource({ url, csrfToken, csrfCookieName, userId, now = Date.now }) {
  let current = null;
  let pending = null;

  async function fetchToken() {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfFor(csrfCookieName, csrfToken) },
    });
    if (response.status === 401 || response.status === 403) {
      throw new SessionEndedError(gettext("Your session has ended. Log in again to keep chatting."));
    }
    if (!response.ok) {
      throw new Error(
        interpolate(gettext("The site could not open the chat (token request: HTTP %(status)s)."), {
          status: response.status,
        }),
      );
    }
    const body = await response.json();
    if (String(body.user_id) !== String(userId)) {
      // Someone else logged in from another tab: this page must not chat as them.
      throw new SessionEndedError(gettext("You logged in as another user in this browser. Reload the page."));
    }
    return { access: body.access, renewAt: now() + renewalDelay(body.expires_in) };
  }

  function renew() {
    pending ??= fetchToken()
      .then((token) => {
        current = token;
        return token.access;
      })
      .finally(() => {
        pending = null;
      });
    return pending;
  }

  async function get() {
    if (current && now() < current.renewAt) {
      return current.access;
    }
    return renew();
  }

  return { get, renew };
}

// Django rotates the CSRF token at login; the cookie always holds the current one, the
// value rendered into the page is the fallback when the cookie is HttpOnly.
function csrfFor(cookieName, fallback) {
  const prefix = `${cookieName}=`;
  const cookie = document.cookie.split("; ").find((part) => part.startsWith(prefix));
  return cookie ? decodeURIComponent(cookie.slice(prefix.length)) : fallback;
}
