// The site-wide light/dark theme. Default: the system's prefers-color-scheme; a click on
// the toggle is remembered and wins over the system from then on. site.css styles both
// themes from the `data-theme` attribute on <html>.

import { readItem, writeItem } from "./storage.js";

const STORAGE_KEY = "site.theme";
const THEMES = new Set(["light", "dark"]);
const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

/** The remembered theme, else the system's preference. */
export function preferredTheme() {
  const stored = readItem(STORAGE_KEY);
  if (THEMES.has(stored)) {
    return stored;
  }
  return systemDark.matches ? "dark" : "light";
}

/**
 * Apply the preferred theme and wire the toggle button.
 * Returns { current(), set(theme), onChange(listener) }; listeners get the new theme name.
 * `set` is a choice, remembered like a click on the toggle (the chat's switch_theme tool).
 */
export function initTheme(toggle) {
  const listeners = new Set();
  let theme = preferredTheme();

  function change(next, remember) {
    if (remember) {
      writeItem(STORAGE_KEY, next);
    }
    if (next === theme) {
      return;
    }
    theme = next;
    applyTheme(theme, toggle);
    listeners.forEach((listener) => listener(theme));
  }

  applyTheme(theme, toggle);
  toggle?.addEventListener("click", () => change(theme === "dark" ? "light" : "dark", true));
  // Follow the system only while the user has not chosen.
  systemDark.addEventListener("change", (event) => {
    if (!THEMES.has(readItem(STORAGE_KEY))) {
      change(event.matches ? "dark" : "light", false);
    }
  });
  return {
    current: () => theme,
    set: (next) => {
      if (THEMES.has(next)) {
        change(next, true);
      }
    },
    onChange: (listener) => listeners.add(listener),
  };
}

function applyTheme(theme, toggle) {
  document.documentElement.dataset.theme = theme;
  toggle?.setAttribute("aria-pressed", String(theme === "dark"));
}
