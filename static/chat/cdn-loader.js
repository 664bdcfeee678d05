// Loading the ChatKit web component from OpenAI's CDN without ever blocking the page.
// The script is injected async; its arrival is raced against a timeout, because on a
// blocked network the request may simply hang.

import { gettext, interpolate } from "./i18n.js";

export const CHATKIT_TAG = "openai-chatkit";

/**
 * Load the script at `url` and wait at most `timeoutMs` for <openai-chatkit> to be defined.
 * Resolves (never rejects) to { ok: true } or { ok: false, reason } where reason is a
 * sentence fragment a user can read.
 */
export function loadChatKitScript(url, timeoutMs) {
  if (customElements.get(CHATKIT_TAG)) {
    return Promise.resolve({ ok: true });
  }
  const host = hostOf(url);
  const seconds = Math.round(timeoutMs / 100) / 10;
  return new Promise((resolve) => {
    let loaded = false;
    let settled = false;
    const finish = (result) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(result);
      }
    };
    const timer = setTimeout(() => {
      finish({
        ok: false,
        reason: loaded
          ? interpolate(
              gettext("the script from %(host)s loaded but did not provide the chat widget within %(seconds)s seconds"),
              { host, seconds },
            )
          : interpolate(
              gettext("the script from %(host)s did not load within %(seconds)s seconds: the network may be offline or blocking it"),
              { host, seconds },
            ),
      });
    }, timeoutMs);
    customElements.whenDefined(CHATKIT_TAG).then(() => finish({ ok: true }));

    const script = document.createElement("script");
    script.src = url;
    script.async = true;
    script.addEventListener("load", () => {
      loaded = true;
    });
    script.addEventListener("error", () => {
      finish({
        ok: false,
        reason: interpolate(
          gettext("the script from %(host)s did not load: the browser is offline or the network blocks it"),
          { host },
        ),
      });
    });
    document.head.append(script);
  });
}

function hostOf(url) {
  try {
    return new URL(url, window.location.href).host;
  } catch {
    return url;
  }
}
