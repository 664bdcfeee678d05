// The one decision of which chat the panel shows, by the site's CHAT_WIDGET setting
// (config.widget):
//   "auto"    ChatKit when its script defines <openai-chatkit> in time, otherwise the
//             site's built-in client, with a one-line notice saying why;
//   "builtin" always the built-in client; the CDN script is never even requested;
//   "chatkit" always ChatKit; when it cannot load, a plain explanation instead.
// The built-in client is imported only when it is chosen, so pages where ChatKit runs
// never download it (or its Markdown and sanitiser libraries).

import { readItem, writeItem } from "../site/storage.js";
import { gettext, interpolate } from "./i18n.js";
import { loadChatKitScript } from "./cdn-loader.js";
import { createChatKitClient } from "./chatkit-widget.js";
import { createUnavailableClient } from "./unavailable.js";

const MODES = new Set(["auto", "builtin", "chatkit"]);
// In "auto" mode a fallback is remembered for the browser session (sessionStorage): the
// next pages open the built-in client at once instead of waiting for the CDN again.
const FALLBACK_KEY = "chat.fallback";

/** Why this session already fell back to the built-in client, or "". */
export function rememberedFallback() {
  return readItem(FALLBACK_KEY, window.sessionStorage) ?? "";
}

/** The configured mode; anything unknown counts as "auto". */
export function widgetMode(config) {
  return MODES.has(config.widget) ? config.widget : "auto";
}

/**
 * Start loading what the chosen client needs, as early as the page can: the ChatKit
 * script unless the mode is "builtin". Resolves like loadChatKitScript.
 */
export function loadClientScript(config) {
  if (widgetMode(config) === "builtin") {
    return Promise.resolve({ ok: false, reason: gettext("the site uses its built-in chat") });
  }
  const remembered = widgetMode(config) === "auto" ? rememberedFallback() : "";
  if (remembered) {
    return Promise.resolve({ ok: false, reason: remembered, remembered: true });
  }
  return loadChatKitScript(config.cdnUrl, config.widgetTimeout * 1000);
}

/**
 * Resolve to the client for the panel.
 * `scriptLoad` is the promise from loadClientScript; `deps` are { chatFetch, turns, live,
 * theme, notice } (turns: static/chat/turns.js; live: static/chat/live.js, or null).
 */
export async function chooseClient({ config, scriptLoad, ...deps }) {
  const mode = widgetMode(config);
  if (mode === "builtin") {
    return builtinClient({ config, ...deps });
  }
  const result = await scriptLoad;
  if (result.ok) {
    return createChatKitClient({ config, ...deps });
  }
  console.error(`The chat widget could not be loaded: ${result.reason}.`);
  if (mode === "chatkit") {
    return createUnavailableClient(result.reason);
  }
  writeItem(FALLBACK_KEY, result.reason, window.sessionStorage);
  return builtinClient({ config, ...deps, fallbackReason: result.reason });
}

async function builtinClient(options) {
  let module;
  try {
    module = await import("./builtin/controller.js");
  } catch (error) {
    console.error("The built-in chat could not be loaded", error);
    const reason = options.fallbackReason
      ? interpolate(gettext("%(reason)s, and the site’s own chat client did not load either"), {
          reason: options.fallbackReason,
        })
      : gettext("the site’s own chat client did not load");
    return createUnavailableClient(reason);
  }
  return module.createBuiltinClient(options);
}
