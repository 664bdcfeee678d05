// Loading the ChatKit web component from OpenAI's CDN without ever blocking the page.
// The script is injected async; its arrival is raced against a timeout, because on a
// blocked network the request may simply hang.

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
          ? `the script from ${host} loaded but did not provide the chat widget within ${seconds} seconds`
          : `the script from ${host} did not load within ${seconds} seconds: the network may be offline or blocking it`,
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
        reason: `the script from ${host} did not load: the browser is offline or the network blocks it`,
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
