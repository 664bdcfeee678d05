// Message text to safe HTML: Markdown by marked, then sanitised by DOMPurify. Raw HTML in
// a message is shown as text (it is what the user or the model wrote, never markup), and
// the sanitiser removes anything that could still run script or load from elsewhere.

import DOMPurify from "../vendor/dompurify-3.4.18/purify.es.mjs";
import { Marked } from "../vendor/marked-18.2.1/marked.esm.js";

const markdown = new Marked({ gfm: true, breaks: true, async: false });
markdown.use({
  renderer: {
    // Block and inline HTML: escaped, so "<b>" in a message reads "<b>".
    html(token) {
      return escapeHtml(token.text);
    },
  },
});

const purifier = DOMPurify(window);
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    // Links leave the chat in a new tab, without handing it a window reference.
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const PURIFY_OPTIONS = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe"],
  FORBID_ATTR: ["style", "id", "class"],
  ADD_ATTR: ["target"],
  RETURN_DOM_FRAGMENT: true,
};

/** `text` (Markdown) as a sanitised DocumentFragment. */
export function renderMarkdown(text) {
  const html = markdown.parse(String(text ?? ""));
  return purifier.sanitize(html, PURIFY_OPTIONS);
}

/** Replace the contents of `element` with `text` rendered as Markdown. */
export function setMarkdown(element, text) {
  element.replaceChildren(renderMarkdown(text));
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
