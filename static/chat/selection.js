// "Ask AI": selecting text inside the page content (never inside the chat panel) shows a
// small button next to the selection; clicking it hands the text to `onAsk`.

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

/** Show `button` for selections inside `root`; `onAsk(text)` when it is clicked. */
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
  button.addEventListener("click", () => {
    const asked = text;
    button.hidden = true;
    document.getSelection()?.removeAllRanges();
    if (asked) {
      onAsk(asked);
    }
  });
}

// Just below the end of the selection, kept inside the viewport horizontally.
function place(button, rect) {
  const margin = 8;
  const width = button.offsetWidth;
  const maxLeft = document.documentElement.clientWidth - width - margin;
  const left = Math.max(margin, Math.min(rect.left, maxLeft));
  button.style.left = `${left + window.scrollX}px`;
  button.style.top = `${rect.bottom + window.scrollY + margin}px`;
}
