// What the panel shows when no chat client can run: a plain explanation instead of a
// blank box. Same interface as the chat clients, so the panel code does not care.

import { gettext, interpolate } from "./i18n.js";

/** A stand-in client that explains `reason` (a sentence fragment) in the panel. */
export function createUnavailableClient(reason) {
  return {
    mount(container) {
      const box = document.createElement("div");
      box.className = "chat-unavailable";
      box.setAttribute("role", "status");
      const title = document.createElement("p");
      title.className = "chat-unavailable-title";
      title.textContent = gettext("The chat widget could not be loaded.");
      const why = document.createElement("p");
      why.textContent = interpolate(gettext("Why: %(reason)s."), { reason });
      const next = document.createElement("p");
      next.textContent = gettext("Reload the page to try again, or ask your network administrator.");
      box.append(title, why, next);
      container.replaceChildren(box);
    },
    applyTheme() {},
    async quote() {},
    focus() {},
  };
}
