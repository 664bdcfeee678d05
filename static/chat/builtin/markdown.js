// Message text to safe HTML: Markdown by marked, then sanitised by DOMPurify. Raw HTML in
// a message is shown as text (it is what the user or the model wrote, never markup), and
// the sanitiser removes anything that could still run script or load from elsewhere.
// Images load only from this site, data:/blob: URLs and the origins in CHAT_IMAGE_ORIGINS
// (the page config's `imageOrigins`): any other image (a tracking pixel a prompt
// injection asked for) is replaced by its alt text.

import DOMPurify from "../vendor/dompurify-3.4.18/purify.es.mjs";
import { Marked } from "../vendor/marked-18.2.1/marked.esm.js";
import { readChatConfig } from "../config.js";

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
  FORBID_ATTR: ["style", "id", "class", "srcset"],
  ADD_ATTR: ["target"],
  RETURN_DOM_FRAGMENT: true,
};

/** Whether an image may load from `src`: this site, data:/blob:, or an allowed origin. */
export function imageAllowed(src, allowedOrigins = imageOrigins()) {
  let url;
  try {
    url = new URL(src, window.location.href);
  } catch {
    return false;
  }
  if (url.protocol === "data:" || url.protocol === "blob:") {
    return true;
  }
  return url.origin === window.location.origin || allowedOrigins.includes(url.origin);
}

function imageOrigins() {
  const origins = readChatConfig()?.imageOrigins;
  return Array.isArray(origins) ? origins : [];
}

/** `text` (Markdown) as a sanitised DocumentFragment. */
export function renderMarkdown(text) {
  const html = markdown.parse(String(text ?? ""));
  const fragment = purifier.sanitize(html, PURIFY_OPTIONS);
  const allowed = imageOrigins();
  for (const image of fragment.querySelectorAll("img")) {
    if (!imageAllowed(image.getAttribute("src") ?? "", allowed)) {
      image.replaceWith(document.createTextNode(image.getAttribute("alt") ?? ""));
    }
  }
  return fragment;
}

/** Replace the contents of `element` with `text` rendered as Markdown. */
export function setMarkdown(element, text) {
  element.replaceChildren(renderMarkdown(text));
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
