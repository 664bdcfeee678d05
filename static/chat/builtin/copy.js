// Copy buttons: the text goes to the clipboard, the button says "Copied" for a moment.

import { iconButton } from "./dom.js";
import { gettext } from "../i18n.js";

const SHOWN_MS = 1500;

/** Put `text` on the clipboard (the Clipboard API, or a hidden textarea where it is absent). */
export async function copyText(text) {
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      // Refused (permissions, no focus): try the old way.
    }
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

/** A button labelled `label` that copies `getText()`. */
export function copyButton(getText, label) {
  const button = iconButton("copy", label, { class: "bc-icon-button bc-copy", "data-copy": "" });
  button.addEventListener("click", async () => {
    await copyText(getText());
    button.dataset.copied = "true";
    button.setAttribute("aria-label", gettext("Copied"));
    button.title = gettext("Copied");
    button.replaceChildren(...iconButton("check", "").childNodes);
    setTimeout(() => {
      delete button.dataset.copied;
      button.setAttribute("aria-label", label);
      button.title = label;
      button.replaceChildren(...iconButton("copy", "").childNodes);
    }, SHOWN_MS);
  });
  return button;
}
