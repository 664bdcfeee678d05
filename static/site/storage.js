// Remembered choices (theme, panel state, current thread) in localStorage.
// Storage can throw (disabled storage, privacy modes, full quota): that must never break
// the page, it only means the choice is not remembered.

/** The stored string for `key`, or null. */
export function readItem(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

/** Store `value` under `key`; null or undefined removes the key. */
export function writeItem(key, value) {
  try {
    if (value === null || value === undefined) {
      window.localStorage.removeItem(key);
    } else {
      window.localStorage.setItem(key, String(value));
    }
  } catch {
    // Not remembered; nothing else to do.
  }
}
