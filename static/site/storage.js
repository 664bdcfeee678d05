// Remembered choices (theme, panel state, current thread) in localStorage, or for the
// browser session in sessionStorage (pass it as `store`).
// Storage can throw (disabled storage, privacy modes, full quota): that must never break
// the page, it only means the choice is not remembered.

/** The stored string for `key` (in `store`, localStorage by default), or null. */
export function readItem(key, store = undefined) {
  try {
    return (store ?? window.localStorage).getItem(key);
  } catch {
    return null;
  }
}

/** Store `value` under `key` (in `store`); null or undefined removes the key. */
export function writeItem(key, value, store = undefined) {
  try {
    const target = store ?? window.localStorage;
    if (value === null || value === undefined) {
      target.removeItem(key);
    } else {
      target.setItem(key, String(value));
    }
  } catch {
    // Not remembered; nothing else to do.
  }
}
