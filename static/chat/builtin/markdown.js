// Message text to safe HTML: Markdown by marked, then sanitised by DOMPurify. Raw HTML in
// a message is shown as text (it is what the user or the model wrote, never markup), and
// the sanitiser removes anything that could still run script or load from elsewhere.
//
// After sanitising, code blocks are highlighted by highlight.js (its output is escaped
// text in spans) and get a language label and a copy button; math ($…$, $$…$$, \(…\),
// \[…\]) is typeset by KaTeX, loaded only when an answer has math. Until KaTeX is there,
// or if it cannot load, the TeX source is shown as it is, marked as math.
//
// Images load only from this site, data:/blob: URLs and the origins in CHAT_IMAGE_ORIGINS
// (the page config's `imageOrigins`): any other image (a tracking pixel a prompt
// injection asked for) is replaced by its alt text.

import DOMPurify from "../vendor/dompurify-3.4.18/purify.es.mjs";
import hljs from "../vendor/highlight.js-11.12.0/highlight.min.js";
import { Marked } from "../vendor/marked-18.2.1/marked.esm.js";
import { readChatConfig } from "../config.js";
import { copyButton } from "./copy.js";
import { gettext } from "../i18n.js";

const KATEX_URL = new URL("../vendor/katex-0.19.1/katex.mjs", import.meta.url);
const KATEX_CSS = new URL("../vendor/katex-0.19.1/katex.min.css", import.meta.url);

// Math in Markdown: display ($$…$$, \[…\]) as a block, inline ($…$, \(…\)) in the text.
const mathExtension = {
  extensions: [
    {
      name: "mathBlock",
      level: "block",
      start: (src) => src.match(/\$\$|\\\[/)?.index,
      tokenizer(src) {
        const match = /^(?:\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\])[ \t]*(?:\n|$)/.exec(src);
        return match ? { type: "mathBlock", raw: match[0], tex: (match[1] ?? match[2]).trim() } : undefined;
      },
      renderer: (token) => `<div class="bc-math" data-tex="${escapeHtml(token.tex)}" data-display="true">${escapeHtml(token.tex)}</div>\n`,
    },
    {
      name: "mathInline",
      level: "inline",
      start: (src) => src.match(/\$|\\\(/)?.index,
      tokenizer(src) {
        // $…$ only when it cannot be money: no space inside the dollars, not followed by a digit.
        const match = /^(?:\$\$([^$]+?)\$\$|\$(?!\s)([^$\n]+?)(?<!\s)\$(?!\d)|\\\(([\s\S]+?)\\\))/.exec(src);
        return match
          ? { type: "mathInline", raw: match[0], tex: (match[1] ?? match[2] ?? match[3]).trim() }
          : undefined;
      },
      renderer: (token) => `<span class="bc-math" data-tex="${escapeHtml(token.tex)}">${escapeHtml(token.tex)}</span>`,
    },
  ],
};

const markdown = new Marked({ gfm: true, breaks: true, async: false });
markdown.use(mathExtension, {
  renderer: {
    // Block and inline HTML: escaped, so "<b>" in a message reads "<b>".
    html(token) {
      return escapeHtml(token.text);
    },
    // The language goes in a data attribute: classes do not survive the sanitiser.
    code(token) {
      const language = (token.lang || "").trim().split(/\s+/)[0];
      // A final newline, as marked writes it: copied code ends its last line.
      const text = token.text.replace(/\n*$/, "\n");
      return `<pre data-lang="${escapeHtml(language)}"><code>${escapeHtml(text)}</code></pre>\n`;
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
  FORBID_ATTR: ["style", "id", "srcset"],
  ADD_ATTR: ["target"],
  RETURN_DOM_FRAGMENT: true,
};

// Only the class the math renderer sets survives: everything else a message says about
// classes is dropped.
purifier.addHook("uponSanitizeAttribute", (node, data) => {
  if (data.attrName === "class") {
    data.keepAttr = data.attrValue === "bc-math";
  }
});

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

/** `text` (Markdown) as a sanitised DocumentFragment, code highlighted, math marked. */
export function renderMarkdown(text) {
  const html = markdown.parse(String(text ?? ""));
  const fragment = purifier.sanitize(html, PURIFY_OPTIONS);
  fragment.querySelectorAll("pre[data-lang]").forEach(decorateCode);
  typeset(fragment);
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
  if (element.querySelector(".bc-math:not([data-typeset])")) {
    // KaTeX arrives after the first paint: typeset what is still shown then.
    loadKatex().then(() => typeset(element));
  }
}

// A fence that names no language gets highlight.js's guess, among the languages people
// ask a chat about, and only a guess with evidence behind it (a relevance of
// SURE_GUESS or more): on a few lines it guesses wrong, a two-line Python function
// comes out as Ruby and a sentence as VB.NET. Anything less stays plain text.
const GUESSED_LANGUAGES = [
  "bash", "c", "cpp", "csharp", "css", "diff", "go", "java", "javascript", "json",
  "kotlin", "markdown", "php", "python", "ruby", "rust", "sql", "swift", "typescript",
  "xml", "yaml",
];
const SURE_GUESS = 5;

function highlighted(source, asked) {
  if (asked) {
    return hljs.getLanguage(asked)
      ? hljs.highlight(source, { language: asked, ignoreIllegals: true })
      : null; // a language highlight.js does not know: plain, under the name asked
  }
  if (source.length >= 20_000) {
    return null;
  }
  const guess = hljs.highlightAuto(source, GUESSED_LANGUAGES);
  return guess.relevance >= SURE_GUESS ? guess : null;
}

// A code block: highlighted, with its language and a copy button above it.
function decorateCode(pre) {
  const code = pre.querySelector("code");
  if (!code) {
    return;
  }
  const source = code.textContent;
  const asked = pre.dataset.lang;
  let language = "";
  try {
    const result = highlighted(source, asked);
    if (result) {
      // highlight.js escapes the source: its output is text in spans of hljs-* classes.
      code.innerHTML = result.value;
      language = result.language ?? "";
    }
  } catch (error) {
    console.error("Highlighting failed", error);
  }
  const label = asked || language;
  const name = hljs.getLanguage(label)?.name ?? label;
  code.classList.add("hljs");
  const header = document.createElement("div");
  header.className = "bc-code-header";
  const tag = document.createElement("span");
  tag.className = "bc-code-lang";
  tag.textContent = name || gettext("text");
  header.append(tag, copyButton(() => source, gettext("Copy code")));
  // A long line scrolls sideways: the block takes the focus, so a keyboard can scroll it.
  pre.tabIndex = 0;
  const figure = document.createElement("figure");
  figure.className = "bc-code";
  pre.replaceWith(figure);
  figure.append(header, pre);
}

let katex = null;
let katexLoading = null;

function loadKatex() {
  if (!katexLoading) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = KATEX_CSS.href;
    document.head.append(link);
    katexLoading = import(KATEX_URL.href)
      .then((module) => {
        katex = module.default;
      })
      .catch((error) => {
        console.error("KaTeX could not be loaded: math is shown as TeX", error);
      });
  }
  return katexLoading;
}

// Typeset the math in `root` if KaTeX is loaded; otherwise leave the TeX, labelled.
function typeset(root) {
  root.querySelectorAll(".bc-math:not([data-typeset])").forEach((node) => {
    const tex = node.dataset.tex ?? "";
    if (!katex) {
      node.setAttribute("title", gettext("Math (TeX)"));
      return;
    }
    try {
      katex.render(tex, node, { displayMode: node.dataset.display === "true", throwOnError: false });
      node.dataset.typeset = "true";
    } catch (error) {
      node.textContent = tex;
    }
  });
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
