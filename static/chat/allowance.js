// What is left of the user's daily token quota, under the panel's title, for either client
// (the ChatKit widget or the built-in one). Shown only when a quota applies to this user
// (CHAT_DAILY_TOKEN_QUOTA, or an override for the user or a group: chat/limits.py; the
// page config's `showAllowance`, so a user without one costs no request at all), read
// from GET /chatkit/limits/ when the panel opens and again whenever one of the user's
// answers ends, in this tab or another (live sync's turn.finished).

import { gettext, interpolate } from "./i18n.js";

/** The line to show for an answer of /chatkit/limits/, or "" when no quota applies. */
export function describeAllowance(allowance, locale = undefined) {
  const daily = allowance?.daily_tokens;
  if (!daily) {
    return "";
  }
  const number = new Intl.NumberFormat(locale);
  if (daily.remaining <= 0) {
    return gettext("Today's tokens are used up: answers resume tomorrow.");
  }
  return interpolate(gettext("%(remaining)s of %(quota)s tokens left today"), {
    remaining: number.format(daily.remaining),
    quota: number.format(daily.quota),
  });
}

/**
 * Keep `element` showing the allowance. `chatFetch` adds the Bearer token; `live` (or
 * null) is static/chat/live.js. Returns { refresh() }.
 */
export function createAllowance({ url, chatFetch, element, live = null }) {
  let reading = null;

  async function refresh() {
    if (reading) {
      return reading;
    }
    reading = (async () => {
      try {
        const response = await chatFetch(url, { method: "GET", headers: { Accept: "application/json" } });
        if (response.ok) {
          show(describeAllowance(await response.json(), document.documentElement.lang || undefined));
        }
      } catch (error) {
        // The line is a courtesy: a failed read leaves the last one shown.
        console.warn("The remaining allowance could not be read", error);
      } finally {
        reading = null;
      }
    })();
    return reading;
  }

  function show(text) {
    element.textContent = text;
    element.hidden = !text;
  }

  live?.subscribe((message) => {
    if (message?.type === "turn.finished") {
      refresh();
    }
  });
  return { refresh };
}
