// The floating panel and its launcher. The closed panel stays laid out (visibility:
// hidden, inert) rather than display:none, so a widget inside it always has a size.
// Open/closed survives reloads; Escape closes; focus goes back to the launcher.

import { readItem, writeItem } from "../site/storage.js";

/**
 * Wire the launcher button and the panel; `storageKey` remembers open/closed.
 * `onOpen({ focus })` runs on every opening; `focus` is false when the panel reopens by
 * itself after a reload, so the page does not steal the keyboard focus.
 * Returns { open(options), close(options), isOpen(), restore() }.
 */
export function createPanel({ launcher, panel, closeButton, storageKey, onOpen }) {
  let isOpen = false;

  function open({ focus = true } = {}) {
    if (isOpen) {
      return;
    }
    isOpen = true;
    panel.dataset.open = "true";
    panel.inert = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    if (storageKey) {
      writeItem(storageKey, "open");
    }
    if (focus) {
      // Inside the panel at once; the chat moves focus to its composer when it is ready.
      panel.focus({ preventScroll: true });
    }
    onOpen?.({ focus });
  }

  function close({ focusLauncher = true } = {}) {
    if (!isOpen) {
      return;
    }
    isOpen = false;
    panel.dataset.open = "false";
    panel.inert = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    if (storageKey) {
      writeItem(storageKey, null);
    }
    if (focusLauncher) {
      launcher.focus();
    }
  }

  launcher.addEventListener("click", () => open());
  closeButton?.addEventListener("click", () => close());
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && isOpen && closeButton && !event.defaultPrevented) {
      close();
    }
  });

  return {
    open,
    close,
    isOpen: () => isOpen,
    // Reopen after a reload if the user left it open.
    restore() {
      if (readItem(storageKey) === "open") {
        open({ focus: false });
      }
    },
  };
}
