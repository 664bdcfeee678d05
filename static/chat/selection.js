// "Ask AI": selecting text inside the page content (never inside the chat panel) shows a
// small group of buttons next to the selection, never over it: ask in the conversation
// open now, or in a new one; clicking hands the text to `onAsk(text, { newThread })`.

/** The text as a Markdown quote, followed by an empty line for the question. */
export function quoteText(text) {
  const lines = String(text).trim().split(/\r?\n/);
  return `${lines.map((line) => `> ${line}`.trimEnd()).join("\n")}\n\n`;
}

/** The selected text if the whole selection lies inside `root`, else "". */
export function selectedTextWithin(selection, root) {
  if (!selection || selection.isCollapsed || selection.rangeCount === 0) {
    return "";
  }
  const range = selection.getRangeAt(0);
  if (!root.contains(range.commonAncestorContainer)) {
    return "";
  }
  return selection.toString().trim();
}

/** Show `button` (the group) for selections inside `root`; `onAsk(text, { newThread })`
 * when one of its [data-ask] buttons is clicked. */
export function initAskAI({ root, button, onAsk }) {
  let text = "";
  let scheduled = false;

  function update() {
    scheduled = false;
    const selection = document.getSelection();
    text = selectedTextWithin(selection, root);
    if (!text) {
      button.hidden = true;
      return;
    }
    button.hidden = false;
    place(button, selection.getRangeAt(0).getBoundingClientRect());
  }

  document.addEventListener("selectionchange", () => {
    // Selections change on every pointer move while dragging: update once per frame.
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(update);
    }
  });
  // Pressing the button must not collapse the selection it is about.
  button.addEventListener("pointerdown", (event) => event.preventDefault());
  button.addEventListener("click", (event) => {
    const choice = event.target.closest("[data-ask]");
    if (!choice && button.querySelector("[data-ask]")) {
      return;
    }
    const asked = text;
    button.hidden = true;
    document.getSelection()?.removeAllRanges();
    if (asked) {
      onAsk(asked, { newThread: choice?.dataset.ask === "new" });
    }
  });
}

// Just below the selection, or above it when there is no room below: never over it (the
// whole selection's box, so a selection of several lines stays readable). Kept inside the
// viewport horizontally.
export function placement(rect, size, viewport, margin = 8) {
  const maxLeft = viewport.width - size.width - margin;
  const left = Math.max(margin, Math.min(rect.left, maxLeft));
  const below = rect.bottom + margin;
  const fitsBelow = below + size.height <= viewport.height - margin;
  const above = rect.top - margin - size.height;
  const top = fitsBelow || above < margin ? below : above;
  return { left, top };
}

function place(button, rect) {
  const { left, top } = placement(
    rect,
    { width: button.offsetWidth, height: button.offsetHeight },
    { width: document.documentElement.clientWidth, height: document.documentElement.clientHeight },
  );
  button.style.left = `${left + window.scrollX}px`;
  button.style.top = `${top + window.scrollY}px`;
}
