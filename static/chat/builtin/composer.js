// The message box: Enter sends, Shift+Enter starts a new line; while an answer streams
// the send button becomes a stop button. Files can be picked or dropped; each uploads at
// once (with its progress) and goes with the next message.

import { acceptAttribute, formatBytes, refusal } from "./attachments.js";
import { h, icon, iconButton } from "./dom.js";

const MAX_ROWS_PX = 160;

/**
 * `placeholder`: the textarea's placeholder; `attachmentOptions`: the server's composer
 * options (null when off); `uploader`: from createUploader; `onSend({ text, attachments })`
 * and `onStop()` are called by the buttons and keys.
 * Returns { element, setStreaming(on), setCancellable(on), setValue(text), value(),
 * restore(text, attachments), addFiles(files), focus() }.
 */
export function createComposer({ placeholder, attachmentOptions, uploader, onSend, onStop }) {
  let streaming = false;
  let cancellable = true;
  const pending = []; // { chip, attachment, controller, failed, restored }: the files to send

  const textarea = h("textarea", {
    class: "bc-textarea",
    rows: 1,
    placeholder,
    "aria-label": "Message to the assistant",
    enterkeyhint: "send",
  });
  const sendButton = iconButton("send", "Send message", { class: "bc-icon-button bc-send" });
  const chips = h("ul", { class: "bc-chips", "aria-label": "Files to send", hidden: true });
  const problem = h("p", { class: "bc-composer-problem", role: "alert", hidden: true });
  const enabled = Boolean(attachmentOptions?.enabled);
  const fileInput = h("input", {
    type: "file",
    multiple: true,
    hidden: true,
    accept: enabled ? acceptAttribute(attachmentOptions) : null,
    tabindex: -1,
  });
  const attachButton = enabled ? iconButton("attach", "Attach files") : null;
  const element = h(
    "form",
    { class: "bc-composer", "aria-label": "Write a message" },
    problem,
    chips,
    h("div", { class: "bc-composer-row" }, attachButton, textarea, sendButton),
    fileInput,
  );

  function resize() {
    textarea.style.height = "auto";
    textarea.style.height = `${Math.min(textarea.scrollHeight, MAX_ROWS_PX)}px`;
  }

  function uploading() {
    return pending.some((entry) => !entry.attachment && !entry.failed);
  }

  function updateButton() {
    if (streaming) {
      sendButton.replaceChildren(icon("stop"));
      sendButton.setAttribute("aria-label", "Stop the answer");
      sendButton.title = "Stop the answer";
      sendButton.classList.add("bc-stop");
      sendButton.disabled = !cancellable;
      return;
    }
    sendButton.replaceChildren(icon("send"));
    sendButton.setAttribute("aria-label", "Send message");
    sendButton.title = uploading() ? "Wait for the files to upload" : "Send message";
    sendButton.classList.remove("bc-stop");
    sendButton.disabled = uploading();
  }

  function say(message) {
    problem.textContent = message;
    problem.hidden = !message;
  }

  function submit() {
    if (streaming || uploading()) {
      return;
    }
    const text = textarea.value.trim();
    const attachments = pending.filter((entry) => entry.attachment).map((entry) => entry.attachment);
    if (!text && attachments.length === 0) {
      return;
    }
    say("");
    textarea.value = "";
    resize();
    pending.splice(0).forEach((entry) => entry.chip.remove());
    chips.hidden = true;
    onSend({ text, attachments });
  }

  textarea.addEventListener("input", resize);
  textarea.addEventListener("keydown", (event) => {
    // isComposing: Enter that confirms an input method's candidate is not a send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  sendButton.addEventListener("click", () => (streaming ? onStop() : submit()));
  attachButton?.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    addFiles([...fileInput.files]);
    fileInput.value = "";
  });

  function addFiles(files) {
    if (!enabled) {
      say("Attachments are turned off on this site.");
      return;
    }
    const problems = [];
    for (const file of files) {
      const why = refusal(file, attachmentOptions, pending.filter((entry) => !entry.failed).length);
      if (why) {
        problems.push(why);
      } else {
        start(file);
      }
    }
    say(problems.join(" "));
    updateButton();
  }

  // A file to send, shown as a chip: its icon, its name, `details` (size, progress) and a
  // remove button.
  function addEntry({ name, image, state, details = [], attachment = null, controller = null, restored = false }) {
    const remove = iconButton("close", `Remove ${name}`, { class: "bc-icon-button bc-chip-remove" });
    const chip = h(
      "li",
      { class: "bc-chip", "data-state": state },
      icon(image ? "attach" : "file", 16),
      h("span", { class: "bc-chip-name" }, name),
      ...details,
      remove,
    );
    const entry = { chip, attachment, controller, failed: false, restored };
    remove.addEventListener("click", () => discard(entry));
    pending.push(entry);
    chips.append(chip);
    chips.hidden = false;
    return entry;
  }

  function discard(entry) {
    entry.controller?.abort();
    pending.splice(pending.indexOf(entry), 1);
    entry.chip.remove();
    chips.hidden = pending.length === 0;
    // Uploaded but not sent: the server would keep it until the purge; remove it now. Not
    // a restored one: its message may have reached the server after all.
    if (entry.attachment && !entry.restored) {
      uploader.remove(entry.attachment.id).catch(() => {});
    }
    updateButton();
    textarea.focus();
  }

  function start(file) {
    const controller = new AbortController();
    const progress = h("progress", { max: 1, "aria-label": `Uploading ${file.name}` });
    const status = h("span", { class: "bc-chip-status" }, formatBytes(file.size));
    const entry = addEntry({
      name: file.name,
      image: file.type.startsWith("image/"),
      state: "uploading",
      details: [status, progress],
      controller,
    });
    const { chip } = entry;

    uploader
      .upload(file, {
        signal: controller.signal,
        onProgress(fraction) {
          if (fraction === null) {
            progress.removeAttribute("value"); // indeterminate: a moving bar
          } else {
            progress.value = fraction;
            status.textContent = `${Math.round(fraction * 100)} %`;
          }
        },
      })
      .then((attachment) => {
        entry.attachment = attachment;
        chip.dataset.state = "ready";
        progress.remove();
        status.textContent = formatBytes(file.size);
        updateButton();
      })
      .catch((error) => {
        if (error?.name === "AbortError") {
          return;
        }
        entry.failed = true;
        chip.dataset.state = "failed";
        progress.remove();
        status.textContent = "failed";
        say(`“${file.name}” could not be uploaded: ${error.message}`);
        updateButton();
      });
  }

  updateButton();
  return {
    element,
    setStreaming(on) {
      streaming = on;
      // Stoppable once the server says so (its stream_options event, sent after it has
      // stored the user's message): stopping earlier would leave it unknown whether the
      // message was kept.
      cancellable = false;
      updateButton();
    },
    setCancellable(on) {
      cancellable = on;
      updateButton();
    },
    setValue(text) {
      textarea.value = text;
      resize();
      textarea.setSelectionRange(text.length, text.length);
    },
    value: () => textarea.value,
    /** Put an unsent message back (its request failed before the server kept it). */
    restore(text, attachments) {
      if (!textarea.value.trim()) {
        textarea.value = text;
        resize();
      }
      for (const attachment of attachments) {
        addEntry({
          name: attachment.name,
          image: attachment.type === "image",
          state: "ready",
          attachment,
          restored: true,
        });
      }
      updateButton();
    },
    addFiles,
    focus() {
      textarea.focus({ preventScroll: true });
    },
  };
}
