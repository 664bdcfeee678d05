// Message times: relative ("5 minutes ago"), the exact date and time on hover and for
// screen readers, kept current while the page stays open.

import { pageLanguage } from "../i18n.js";

const REFRESH_MS = 60_000;
const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

const language = pageLanguage();
const relative = new Intl.RelativeTimeFormat(language, { numeric: "auto" });
const exact = new Intl.DateTimeFormat(language, { dateStyle: "full", timeStyle: "short" });

/** "5 minutes ago", "yesterday", "now" for `date`, as seen at `now`. */
export function relativeTime(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) {
      return relative.format(Math.trunc(seconds / size), unit);
    }
  }
  return relative.format(0, "second");
}

/** A <time> for `value` (an ISO string), or null when it is not a date. */
export function timeElement(value) {
  const date = new Date(value ?? NaN);
  if (Number.isNaN(date.getTime())) {
    return null;
  }
  const element = document.createElement("time");
  element.className = "bc-time";
  element.dateTime = date.toISOString();
  element.title = exact.format(date);
  element.textContent = relativeTime(date);
  return element;
}

/** The exact date and time of `date`, in the page's language. */
export function exactTime(date) {
  return exact.format(date);
}

setInterval(() => {
  document.querySelectorAll("time.bc-time").forEach((element) => {
    element.textContent = relativeTime(new Date(element.dateTime));
  });
}, REFRESH_MS);
