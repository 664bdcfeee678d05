// The message box: Enter sends, Shift+Enter starts a new line; while an answer streams
// the send button becomes a stop button. Files can be picked or dropped; each uploads at
// once (with its progress) and goes with the next message.

import { acceptAttribute, formatBytes, refusal } from "./attachments.js";
import { h, icon, iconButton } from "./dom.js";
import { gettext, interpolate } from "../i18n.js";

const MAX_ROWS_PX = 160;
// The length counter shows from this share of the limit on.
const COUNTER_FROM = 0.8;
const encoder = new TextEncoder();
let composerCount = 0;

/** How much of a request's limit `text` takes: the UTF-8 bytes of its JSON string. */
export function messageBytes(text) {
  return encoder.encode(JSON.stringify(text)).length - 2;
}

/**
 * `placeholder`: the textarea's placeholder; `attachmentOptions`: the server's composer
 * options (null when off); `uploader`: from createUploader; `onSend({ text, attachments })`
 * and `onStop()` are called by the buttons and keys.
 * Returns { element, setStreaming(on), setCancellable(on), setValue(text), value(),
 * restore(text, attachments), addFiles(files), focus() }.
 */
export function createComposer({
  placeholder,
  attachmentOptions,
  uploader,
  onSend,
  onStop,
  maxBytes = 0,
  models = [],
  tools = [],
  onTranscribe = null,
  mentions = null,
}) {
  let streaming = false;
  let cancellable = true;
  const pending = []; // { chip, attachment, controller, failed, restored }: the files to send

  const textarea = h("textarea", {
    class: "bc-textarea",
    rows: 1,
    placeholder,
    "aria-label": gettext("Message to the assistant"),
    enterkeyhint: "send",
    "aria-describedby": null,
  });
  const counter = h("p", { class: "bc-counter", "aria-live": "polite", hidden: true });
  const sendButton = iconButton("send", gettext("Send message"), { class: "bc-icon-button bc-send" });
  const chips = h("ul", { class: "bc-chips", "aria-label": gettext("Files to send"), hidden: true });
  // Every refusal is its own line: a new one never hides an earlier one.
  const problems = h("ul", {});
  const problem = h("div", { class: "bc-composer-problem", role: "alert", hidden: true }, problems);
  const enabled = Boolean(attachmentOptions?.enabled);
  const fileInput = h("input", {
    type: "file",
    multiple: true,
    hidden: true,
    accept: enabled ? acceptAttribute(attachmentOptions) : null,
    tabindex: -1,
  });
  const attachButton = enabled ? iconButton("attach", gettext("Attach files")) : null;
  // The model and tool pickers, when the server offers choices (composer.models, .tools):
  // the choice goes with each message as inference_options.model / .tool_choice.
  const modelPicker = models.length > 1 ? createModelPicker(models) : null;
  const toolPicker = tools.length ? createToolPicker(tools, textarea, placeholder) : null;
  // Dictation, when the server offers it (composer.dictation) and the browser can record:
  // the recording goes to input.transcribe and its text into the box.
  const canRecord = Boolean(onTranscribe && navigator.mediaDevices?.getUserMedia && window.MediaRecorder);
  const micButton = canRecord
    ? iconButton("mic", gettext("Dictate a message"), { "aria-pressed": "false", class: "bc-icon-button bc-mic" })
    : null;
  let recording = null; // { recorder, chunks, stream }
  micButton?.addEventListener("click", () => (recording ? stopDictation() : startDictation()));

  async function startDictation() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      say(gettext("The microphone could not be used. Allow it in the browser to dictate."));
      return;
    }
    const recorder = new MediaRecorder(stream);
    const chunks = [];
    recording = { recorder, chunks, stream };
    recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
    recorder.start();
    micButton.setAttribute("aria-pressed", "true");
    micButton.setAttribute("aria-label", gettext("Stop dictating"));
    micButton.title = gettext("Stop dictating");
  }

  async function stopDictation() {
    const current = recording;
    recording = null;
    micButton.setAttribute("aria-pressed", "false");
    micButton.setAttribute("aria-label", gettext("Dictate a message"));
    micButton.title = gettext("Dictate a message");
    const stopped = new Promise((resolve) => current.recorder.addEventListener("stop", resolve, { once: true }));
    current.recorder.stop();
    await stopped;
    current.stream.getTracks().forEach((track) => track.stop());
    const blob = new Blob(current.chunks, { type: current.recorder.mimeType || "audio/webm" });
    micButton.disabled = true;
    try {
      const text = await onTranscribe(await toBase64(blob), blob.type);
      if (text) {
        const before = textarea.value.trimEnd();
        textarea.value = before ? `${before} ${text}` : text;
        resize();
        updateCounter();
        textarea.focus();
      }
    } catch (error) {
      say(`${gettext("The dictation could not be transcribed.")} ${error.message ?? ""}`.trim());
    } finally {
      micButton.disabled = false;
    }
  }

  // @-mentions, when the server offers entity search (mentions: { search(query),
  // preview(entity) }): "@" and a few letters list matching entities; the chosen ones go
  // with the message as input_tag parts.
  const tags = [];
  const tagList = h("ul", { class: "bc-tags", "aria-label": gettext("Mentions"), hidden: true });
  const suggestions = h("ul", { class: "bc-mentions", role: "listbox", id: `bc-mentions-${(composerCount += 1)}`, hidden: true, "aria-label": gettext("Mention suggestions") });
  let found = [];
  let active = -1;
  let searchTimer = 0;
  let searchRun = 0;

  function mentionQuery() {
    const before = textarea.value.slice(0, textarea.selectionStart);
    return /(?:^|\s)@([^\s@]*)$/.exec(before)?.[1] ?? null;
  }

  function closeSuggestions() {
    suggestions.hidden = true;
    suggestions.replaceChildren();
    found = [];
    active = -1;
    textarea.setAttribute("aria-expanded", "false");
    textarea.removeAttribute("aria-activedescendant");
  }

  function showSuggestions(entities) {
    found = entities;
    active = entities.length ? 0 : -1;
    suggestions.replaceChildren(
      ...entities.map((entity, index) => {
        const option = h(
          "li",
          { role: "option", id: `${suggestions.id}-${index}`, class: "bc-mention", "aria-selected": String(index === active) },
          h("span", { class: "bc-mention-title" }, entity.title),
          entity.group ? h("span", { class: "bc-mention-group" }, entity.group) : null,
        );
        option.addEventListener("pointerdown", (event) => event.preventDefault());
        option.addEventListener("click", () => choose(index));
        return option;
      }),
    );
    if (!entities.length) {
      suggestions.append(h("li", { class: "bc-mention-none", role: "presentation" }, gettext("No matches")));
    }
    suggestions.hidden = false;
    textarea.setAttribute("aria-expanded", "true");
    highlight();
  }

  function highlight() {
    [...suggestions.querySelectorAll("[role=option]")].forEach((option, index) => option.setAttribute("aria-selected", String(index === active)));
    if (active >= 0) {
      textarea.setAttribute("aria-activedescendant", `${suggestions.id}-${active}`);
    }
  }

  function choose(index) {
    const entity = found[index];
    if (!entity) {
      return;
    }
    const caret = textarea.selectionStart;
    const before = textarea.value.slice(0, caret).replace(/@[^\s@]*$/, "");
    textarea.value = before + textarea.value.slice(caret);
    textarea.setSelectionRange(before.length, before.length);
    closeSuggestions();
    if (!tags.some((tag) => tag.id === entity.id)) {
      addTag(entity);
    }
    textarea.focus();
  }

  function addTag(entity) {
    const remove = iconButton("close", interpolate(gettext("Remove %(name)s"), { name: entity.title }), { class: "bc-icon-button bc-chip-remove" });
    const label = h("button", { type: "button", class: "bc-tag-label", "aria-expanded": "false" }, `@${entity.title}`);
    const preview = h("div", { class: "bc-tag-preview", hidden: true });
    const chip = h("li", { class: "bc-tag" }, label, remove, preview);
    const tag = { ...entity, chip };
    label.addEventListener("click", async () => {
      const open = preview.hidden;
      preview.hidden = !open;
      label.setAttribute("aria-expanded", String(open));
      if (open && !preview.childElementCount && mentions.preview) {
        preview.replaceChildren(await mentions.preview(entity).catch(() => h("p", {}, gettext("No preview."))));
      }
    });
    remove.addEventListener("click", () => {
      tags.splice(tags.indexOf(tag), 1);
      chip.remove();
      tagList.hidden = tags.length === 0;
      textarea.focus();
    });
    tags.push(tag);
    tagList.append(chip);
    tagList.hidden = false;
  }

  if (mentions) {
    textarea.setAttribute("role", "combobox");
    textarea.setAttribute("aria-autocomplete", "list");
    textarea.setAttribute("aria-controls", suggestions.id);
    textarea.setAttribute("aria-expanded", "false");
    textarea.addEventListener("input", () => {
      clearTimeout(searchTimer);
      const query = mentionQuery();
      if (query === null) {
        closeSuggestions();
        return;
      }
      searchTimer = setTimeout(async () => {
        const run = (searchRun += 1);
        const entities = await mentions.search(query).catch(() => []);
        if (run === searchRun && mentionQuery() === query) {
          showSuggestions(entities);
        }
      }, 150);
    });
    textarea.addEventListener("keydown", (event) => {
      if (suggestions.hidden || !found.length) {
        if (event.key === "Escape" && !suggestions.hidden) {
          event.preventDefault();
          closeSuggestions();
        }
        return;
      }
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = (active + (event.key === "ArrowDown" ? 1 : found.length - 1)) % found.length;
        highlight();
      } else if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        event.stopImmediatePropagation(); // picks the mention; does not send
        choose(active);
      } else if (event.key === "Escape") {
        event.preventDefault();
        closeSuggestions();
      }
    });
    textarea.addEventListener("blur", () => setTimeout(closeSuggestions, 150));
  }

  const pickers = modelPicker || toolPicker
    ? h("div", { class: "bc-pickers" }, toolPicker?.element, modelPicker?.element)
    : null;
  // A quoted selection ("Ask AI"): shown as a quote above the box, sent as the message's
  // quoted_text.
  let quote = "";
  const quoteText = h("blockquote", { class: "bc-quote-text" });
  const quoteRemove = iconButton("close", gettext("Remove the quote"), { class: "bc-icon-button bc-quote-remove" });
  const quoteBox = h("div", { class: "bc-quote", hidden: true }, quoteText, quoteRemove);
  quoteRemove.addEventListener("click", () => {
    setQuote("");
    textarea.focus();
  });

  function setQuote(text) {
    quote = String(text ?? "").trim();
    quoteText.textContent = quote;
    quoteBox.hidden = !quote;
  }
  const element = h(
    "form",
    { class: "bc-composer", "aria-label": gettext("Write a message") },
    problem,
    quoteBox,
    tagList,
    chips,
    h("div", { class: "bc-composer-row" }, attachButton, textarea, micButton, sendButton),
    suggestions,
    pickers,
    counter,
    fileInput,
  );

  function resize() {
    textarea.style.height = "auto";
    textarea.style.height = `${Math.min(textarea.scrollHeight, MAX_ROWS_PX)}px`;
  }

  function tooLong() {
    return maxBytes > 0 && messageBytes(textarea.value) > maxBytes;
  }

  // The length against the limit, once the message is near it; over it, sending waits.
  function updateCounter() {
    if (!maxBytes) {
      return;
    }
    const used = messageBytes(textarea.value);
    counter.hidden = used < maxBytes * COUNTER_FROM;
    const over = used > maxBytes;
    counter.dataset.over = String(over);
    counter.textContent = over
      ? interpolate(gettext("Too long: %(used)s of at most %(max)s characters. Shorten it to send."), {
          used: used.toLocaleString(),
          max: maxBytes.toLocaleString(),
        })
      : interpolate(gettext("%(used)s of %(max)s characters"), {
          used: used.toLocaleString(),
          max: maxBytes.toLocaleString(),
        });
    updateButton();
  }

  function uploading() {
    return pending.some((entry) => !entry.attachment && !entry.failed);
  }

  function updateButton() {
    if (streaming) {
      sendButton.replaceChildren(icon("stop"));
      sendButton.setAttribute("aria-label", gettext("Stop the answer"));
      sendButton.title = gettext("Stop the answer");
      sendButton.classList.add("bc-stop");
      sendButton.disabled = !cancellable;
      return;
    }
    sendButton.replaceChildren(icon("send"));
    sendButton.setAttribute("aria-label", gettext("Send message"));
    sendButton.title = uploading()
      ? gettext("Wait for the files to upload")
      : tooLong()
        ? gettext("The message is too long")
        : gettext("Send message");
    sendButton.classList.remove("bc-stop");
    sendButton.disabled = uploading() || tooLong();
  }

  // Clear the refusals shown; `messages` (if any) are shown instead.
  function say(...messages) {
    problems.replaceChildren(...messages.filter(Boolean).map((message) => h("li", {}, message)));
    problem.hidden = problems.children.length === 0;
  }

  // Add refusals below those already shown.
  function tell(...messages) {
    problems.append(...messages.filter(Boolean).map((message) => h("li", {}, message)));
    problem.hidden = problems.children.length === 0;
  }

  function submit() {
    if (streaming || uploading() || tooLong()) {
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
    updateCounter();
    pending.splice(0).forEach((entry) => entry.chip.remove());
    chips.hidden = true;
    const quoted = quote;
    setQuote("");
    const inference = {
      ...(modelPicker?.value() ? { model: modelPicker.value() } : {}),
      ...(toolPicker?.value() ? { tool_choice: { id: toolPicker.value() } } : {}),
    };
    toolPicker?.reset();
    const mentioned = tags.splice(0).map((tag) => {
      tag.chip.remove();
      return {
        type: "input_tag",
        id: tag.id,
        text: tag.title,
        data: tag.data ?? {},
        ...(tag.group ? { group: tag.group } : {}),
        interactive: Boolean(tag.interactive),
      };
    });
    tagList.hidden = true;
    onSend({ text, attachments, ...(quoted ? { quote: quoted } : {}), inference, ...(mentioned.length ? { tags: mentioned } : {}) });
  }

  textarea.addEventListener("input", () => {
    resize();
    updateCounter();
  });
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
      say(gettext("Attachments are turned off on this site."));
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
    say(...problems);
    updateButton();
  }

  // A file to send, shown as a chip: its icon, its name, `details` (size, progress) and a
  // remove button.
  function addEntry({ name, image, state, details = [], attachment = null, controller = null, restored = false }) {
    const remove = iconButton("close", interpolate(gettext("Remove %(name)s"), { name }), { class: "bc-icon-button bc-chip-remove" });
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
    const progress = h("progress", { max: 1, "aria-label": interpolate(gettext("Uploading %(name)s"), { name: file.name }) });
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
        status.textContent = gettext("failed");
        tell(interpolate(gettext("“%(name)s” could not be uploaded: %(reason)s"), { name: file.name, reason: error.message }));
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
      updateCounter();
      textarea.setSelectionRange(text.length, text.length);
    },
    value: () => textarea.value,
    setQuote,
    /** Put an unsent message back (its request failed before the server kept it). */
    restore(text, attachments, quoted = "") {
      if (quoted && !quote) {
        setQuote(quoted);
      }
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

// A select of the offered models, starting at the default one.
function createModelPicker(models) {
  const select = h("select", { class: "bc-picker", "aria-label": gettext("Model") });
  for (const model of models) {
    select.append(h("option", { value: model.id, title: model.description ?? null }, model.label ?? model.id));
  }
  select.value = (models.find((model) => model.default) ?? models[0]).id;
  return { element: select, value: () => select.value };
}

// Toggle buttons for the offered tools: one at a time, for the next message only.
function createToolPicker(tools, textarea, placeholder) {
  let chosen = "";
  const buttons = tools.map((tool) => {
    const button = h(
      "button",
      { type: "button", class: "bc-tool-chip", "aria-pressed": "false", "data-tool": tool.id },
      tool.shortLabel ?? tool.label ?? tool.id,
    );
    button.title = tool.label ?? tool.id;
    button.addEventListener("click", () => choose(chosen === tool.id ? "" : tool.id));
    return button;
  });
  function choose(id) {
    chosen = id;
    for (const button of buttons) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === id));
    }
    const tool = tools.find((entry) => entry.id === id);
    textarea.placeholder = tool?.placeholderOverride ?? placeholder;
  }
  return {
    element: h("div", { class: "bc-tools", role: "group", "aria-label": gettext("Tools") }, buttons),
    value: () => chosen,
    reset: () => choose(""),
  };
}

function toBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] ?? "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}
