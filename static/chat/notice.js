// The panel's message line: errors in plain words, dismissable.

import { gettext, interpolate } from "./i18n.js";

/**
 * Wire the notice element (text node inside, dismiss button).
 * Returns { show(text), clear() }.
 */
export function createNotice(element) {
  const text = element.querySelector("[data-chat-notice-text]");
  const dismiss = element.querySelector("[data-chat-notice-dismiss]");
  const clear = () => {
    element.hidden = true;
    text.textContent = "";
  };
  dismiss?.addEventListener("click", clear);
  return {
    show(message) {
      text.textContent = message;
      element.hidden = false;
    },
    clear,
  };
}

/** What went wrong, in words a user can act on. */
export function describeChatError(error) {
  const message = typeof error?.message === "string" ? error.message : "";
  if (error?.name === "SessionEndedError") {
    return message;
  }
  if (error?.name === "TypeError" || /failed to fetch|network/i.test(message)) {
    return gettext("The assistant could not be reached. Check your connection and try again.");
  }
  return message
    ? interpolate(gettext("Something went wrong in the chat (%(detail)s). Please try again."), { detail: message })
    : gettext("Something went wrong in the chat. Please try again.");
}
