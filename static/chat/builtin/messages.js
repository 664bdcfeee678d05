// The conversation: thread items rendered in order, updated in place as the stream
// delivers them, with the per-item actions (feedback, retry) and the transient rows of a
// turn (status, notices, errors).
//
// Screen readers: the list is a polite live log; an answer is aria-busy while it streams,
// so it is read once complete rather than word by word.

import { createAutoScroll } from "./autoscroll.js";
import { copyButton } from "./copy.js";
import { h, icon, iconButton } from "./dom.js";
import { gettext, interpolate } from "../i18n.js";
import { setMarkdown } from "./markdown.js";
import { timeElement } from "./time.js";
import { renderWidget } from "./widgets.js";

const TEXT_DELTA = "assistant_message.content_part.text_delta";
const PART_ADDED = "assistant_message.content_part.added";
const PART_DONE = "assistant_message.content_part.done";
const TASK_ADDED = "workflow.task.added";
const TASK_UPDATED = "workflow.task.updated";
const WIDGET_UPDATES = new Set([
  "widget.streaming_text.value_delta",
  "widget.component.updated",
  "widget.root.updated",
]);

/**
 * Wire the scrolling `scroller` and its `list`.
 * `actions`: { feedback(itemId, kind), clearFeedback(itemId), retry(), continueFrom(itemId),
 * edit(itemId, text) } (promises); `allow`: { feedback, retry, edit };
 * `attachmentUrl(id)`: where a sent file can be downloaded; `hiddenTypes`: the item types
 * never shown (the server's list, from the page config).
 */
export function createMessageList({ scroller, list, actions, allow, attachmentUrl, hiddenTypes }) {
  const hidden = new Set(hiddenTypes);
  const entries = new Map(); // item id -> { item, element, body, dirty }
  const scroll = createAutoScroll(scroller, list);
  let streaming = false;
  let frame = 0;

  // Re-rendering Markdown once per frame is plenty, however fast deltas arrive.
  function schedule(entry) {
    entry.dirty = true;
    frame ||= requestAnimationFrame(() => {
      frame = 0;
      for (const pending of entries.values()) {
        if (pending.dirty) {
          pending.dirty = false;
          paint(pending);
        }
      }
      scroll.follow();
    });
  }

  function paint(entry) {
    const { item } = entry;
    if (item.type === "assistant_message") {
      setMarkdown(entry.body, assistantText(item));
      entry.sources.replaceChildren(...renderSources(item));
    } else if (item.type === "workflow" || item.type === "task") {
      const fresh = renderWorkflow(item);
      // Keep the details open if the user opened them.
      fresh.open ||= entry.body.open;
      entry.body.replaceWith(fresh);
      entry.body = fresh;
    }
  }

  function create(item) {
    if (hidden.has(item.type)) {
      return null;
    }
    const entry = { item, dirty: false };
    if (item.type === "user_message") {
      entry.element = renderUserMessage(item, attachmentUrl);
      if (allow.edit && !item.id.startsWith("local_")) {
        entry.element.append(userActions(entry));
      }
    } else if (item.type === "assistant_message") {
      entry.body = h("div", { class: "bc-md" });
      entry.sources = h("div", { class: "bc-sources-box" });
      entry.actions = h("div", { class: "bc-msg-actions" });
      entry.element = h(
        "article",
        // Complete unless a stream says otherwise (setBusy): a stored answer is whole.
        { class: "bc-msg bc-msg-assistant", "data-item-id": item.id, "aria-busy": "false" },
        h("span", { class: "bc-sr" }, gettext("The assistant said:")),
        entry.body,
        entry.sources,
        entry.actions,
      );
      entry.time = timeElement(item.created_at);
      entry.sources.replaceChildren(...renderSources(item));
      setMarkdown(entry.body, assistantText(item));
    } else if (item.type === "workflow" || item.type === "task") {
      entry.body = renderWorkflow(item);
      entry.element = h("div", { class: "bc-msg bc-msg-tool", "data-item-id": item.id }, entry.body);
    } else if (item.type === "widget" && item.widget) {
      entry.widget = renderWidget(item.widget, {
        onAction: (action, { values, element }) =>
          actions.widgetAction?.(item.id, action, values, {
            busy: (on) => entry.widget.setBusy(action.loadingBehavior === "self" ? element : null, on),
          }),
      });
      entry.element = h(
        "div",
        { class: "bc-msg bc-msg-widget", "data-item-id": item.id },
        h("span", { class: "bc-sr" }, gettext("The assistant showed:")),
        entry.widget.element,
      );
    } else {
      entry.element = h(
        "div",
        { class: "bc-msg bc-msg-other", "data-item-id": item.id },
        describeOther(item),
      );
    }
    entry.element.dataset.itemId = item.id;
    return entry;
  }

  function insert(entry, before = null) {
    entries.set(entry.item.id, entry);
    list.insertBefore(entry.element, before);
  }

  /** Add `item` at the end, or replace the item of the same id where it is. */
  function upsert(item) {
    const old = entries.get(item.id);
    const entry = create(item);
    if (!entry) {
      return;
    }
    if (old) {
      entry.feedback = old.feedback;
      old.element.replaceWith(entry.element);
      entries.set(item.id, entry);
    } else {
      insert(entry, firstTransient());
    }
    refreshActions();
    scroll.follow();
  }

  // Status, notice and error rows of the current turn stay below the items.
  function firstTransient() {
    return list.querySelector(":scope > .bc-transient");
  }

  function refreshActions() {
    const lastUser = lastOfType("user_message");
    const lastAnswer = lastOfType("assistant_message");
    for (const entry of entries.values()) {
      if (entry.item.type !== "assistant_message") {
        continue;
      }
      const busy = entry.element.getAttribute("aria-busy") === "true";
      const isLast = entry === lastAnswer && (!lastUser || follows(entry, lastUser));
      entry.actions.replaceChildren(...(busy ? [] : answerActions(entry, isLast && !streaming)));
    }
  }

  function follows(entry, other) {
    return Boolean(other.element.compareDocumentPosition(entry.element) & Node.DOCUMENT_POSITION_FOLLOWING);
  }

  function answerActions(entry, canRetry) {
    const snippet = snippetOf(assistantText(entry.item));
    const buttons = [copyButton(() => assistantText(entry.item), interpolate(gettext("Copy answer: “%(answer)s”"), { answer: snippet }))];
    if (allow.feedback && !entry.item.id.startsWith("local_")) {
      for (const [kind, name, format] of [
        ["positive", "thumbUp", gettext("Good answer: “%(answer)s”")],
        ["negative", "thumbDown", gettext("Bad answer: “%(answer)s”")],
      ]) {
        const given = entry.feedback === kind;
        const button = iconButton(name, interpolate(format, { answer: snippet }), {
          "aria-pressed": String(given),
          "data-vote": kind,
        });
        button.addEventListener("click", async () => {
          button.disabled = true;
          try {
            // A second click on the vote given takes it back.
            if (entry.feedback === kind) {
              await actions.clearFeedback(entry.item.id);
              entry.feedback = null;
            } else {
              await actions.feedback(entry.item.id, kind);
              entry.feedback = kind;
            }
            refreshActions();
            entry.actions.querySelector(`[data-vote="${kind}"]`)?.focus();
          } catch (error) {
            showError(error.message || gettext("The feedback could not be saved."));
          } finally {
            button.disabled = false;
          }
        });
        buttons.push(button);
      }
    }
    if (allow.retry && canRetry) {
      const retry = iconButton("retry", gettext("Retry this answer"));
      retry.addEventListener("click", () => actions.retry());
      buttons.push(retry);
    }
    if (entry.cut && !streaming && allow.retry) {
      const more = h("button", { type: "button", class: "bc-text-button bc-continue" }, icon("retry", 16), gettext("Continue"));
      more.addEventListener("click", () => actions.continueFrom(entry.item.id));
      buttons.push(more);
    }
    return entry.time ? [...buttons, entry.time] : buttons;
  }

  // The pencil under a sent message: its text becomes editable; saving sends it again and
  // the answers after it are replaced.
  function userActions(entry) {
    const edit = iconButton("pencil", gettext("Edit this message"), { "data-action": "edit" });
    edit.addEventListener("click", () => startEdit(entry));
    return h("div", { class: "bc-msg-actions bc-user-actions" }, timeElement(entry.item.created_at), edit);
  }

  function startEdit(entry) {
    if (streaming) {
      return;
    }
    const original = (entry.item.content ?? []).map((part) => part.text ?? "").join("");
    const area = h("textarea", { class: "bc-edit-input", rows: 3, "aria-label": gettext("Edit your message") });
    area.value = original;
    const save = h("button", { type: "submit", class: "bc-text-button bc-primary" }, gettext("Save and send"));
    const cancel = h("button", { type: "button", class: "bc-text-button" }, gettext("Cancel"));
    const form = h("form", { class: "bc-edit" }, area, h("div", { class: "bc-edit-buttons" }, cancel, save));
    const shown = [...entry.element.children];
    const back = () => {
      form.replaceWith(...shown);
      entry.element.querySelector("[data-action=edit]")?.focus();
    };
    cancel.addEventListener("click", back);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        back();
      } else if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = area.value.trim();
      if (!text || text === original.trim()) {
        back();
        return;
      }
      save.disabled = true;
      try {
        await actions.edit(entry.item.id, text);
      } catch (error) {
        save.disabled = false;
        showError(error.message || gettext("The message could not be edited."));
      }
    });
    shown.forEach((child) => child.remove());
    entry.element.append(form);
    area.focus();
  }

  function lastOfType(type) {
    let found = null;
    for (const entry of entries.values()) {
      if (entry.item.type === type && (!found || follows(entry, found))) {
        found = entry;
      }
    }
    return found;
  }

  function transient(element) {
    element.classList.add("bc-transient");
    list.append(element);
    scroll.follow();
    return element;
  }

  function showError(message, { retry = null, retryLabel = gettext("Retry") } = {}) {
    clearStatus();
    const row = h("div", { class: "bc-error", role: "alert" }, h("p", {}, message));
    if (retry) {
      const button = h("button", { type: "button", class: "bc-text-button" }, icon("retry", 16), retryLabel);
      button.addEventListener("click", () => {
        row.remove();
        retry();
      });
      row.append(button);
    }
    return transient(row);
  }

  function clearStatus() {
    list.querySelector(":scope > .bc-status")?.remove();
  }

  return {
    scroll,
    /** Show exactly `items` (oldest first). */
    reset(items) {
      entries.clear();
      list.replaceChildren();
      items.forEach((item) => {
        const entry = create(item);
        if (entry) {
          insert(entry);
        }
      });
      refreshActions();
    },
    /** Older `items` (oldest first) above the ones shown, without moving the view. */
    prepend(items) {
      scroll.keepPosition(() => {
        const first = list.firstElementChild;
        items.forEach((item) => {
          const entry = !entries.has(item.id) && create(item);
          if (entry) {
            insert(entry, first);
          }
        });
      });
      refreshActions();
    },
    upsert,
    /** Put `item` where the item `oldId` (a message shown before the server had it) is. */
    replace(oldId, item) {
      const old = entries.get(oldId);
      const entry = create(item);
      if (!old || !entry) {
        upsert(item);
        return;
      }
      entries.delete(oldId);
      old.element.replaceWith(entry.element);
      entries.set(item.id, entry);
      refreshActions();
    },
    /** Apply a thread.item.updated `update` to the item `itemId`. */
    update(itemId, update) {
      const entry = entries.get(itemId);
      if (!entry) {
        return;
      }
      const { item } = entry;
      if (update.type === TEXT_DELTA || update.type === PART_ADDED || update.type === PART_DONE) {
        item.content ??= [];
        while (item.content.length <= update.content_index) {
          item.content.push({ type: "output_text", text: "", annotations: [] });
        }
        if (update.type === TEXT_DELTA) {
          item.content[update.content_index].text += update.delta;
        } else {
          item.content[update.content_index] = { ...update.content };
        }
        clearStatus();
      } else if (update.type === TASK_ADDED || update.type === TASK_UPDATED) {
        const tasks = item.type === "task" ? null : (item.workflow.tasks ??= []);
        if (tasks) {
          tasks[update.task_index] = update.task;
        }
      } else if (WIDGET_UPDATES.has(update.type) && entry.widget) {
        const root = entry.widget.update(update);
        if (root) {
          item.widget = root;
        }
        scroll.follow();
        return;
      } else {
        return;
      }
      schedule(entry);
    },
    remove(itemId) {
      entries.get(itemId)?.element.remove();
      entries.delete(itemId);
      refreshActions();
    },
    /** Remove everything shown after the item `itemId` (before a retry). */
    removeAfter(itemId) {
      const anchor = entries.get(itemId);
      if (!anchor) {
        return;
      }
      for (const [id, entry] of [...entries]) {
        if (follows(entry, anchor)) {
          entry.element.remove();
          entries.delete(id);
        }
      }
      list.querySelectorAll(":scope > .bc-transient").forEach((row) => row.remove());
      refreshActions();
    },
    /** Mark an answer as streaming (busy) or complete. */
    setBusy(itemId, busy) {
      const element = entries.get(itemId)?.element;
      if (element) {
        element.setAttribute("aria-busy", String(busy));
        refreshActions();
      }
    },
    /** The answers still marked busy: those a stopped stream left unfinished. */
    busyIds() {
      return [...entries.values()]
        .filter((entry) => entry.element.getAttribute("aria-busy") === "true")
        .map((entry) => entry.item.id);
    },
    /** Mark an answer as cut short, by a stop or a lost server (once, however often it
     * is said); it offers "Continue". */
    markStopped(itemId, how = "stopped") {
      const entry = entries.get(itemId);
      if (!entry || entry.element.querySelector(":scope > .bc-stopped")) {
        return;
      }
      entry.cut = how;
      entry.element.setAttribute("aria-busy", "false");
      entry.element.dataset.cut = how;
      const said = how === "interrupted" ? gettext("Interrupted") : gettext("Stopped");
      entry.element.insertBefore(h("p", { class: "bc-stopped" }, said), entry.actions);
      refreshActions();
    },
    /** The user's own votes and the answers cut short, as the server remembers them. */
    applyStates({ feedback = {}, cut = {} }) {
      for (const [itemId, kind] of Object.entries(feedback)) {
        const entry = entries.get(itemId);
        if (entry) {
          entry.feedback = kind;
        }
      }
      Object.entries(cut).forEach(([itemId, how]) => this.markStopped(itemId, how));
      refreshActions();
    },
    /** The user message an answer replies to (the last one before it). */
    userMessageBefore(itemId) {
      const answer = entries.get(itemId);
      let found = null;
      for (const entry of entries.values()) {
        if (entry.item.type === "user_message" && answer && follows(answer, entry) && (!found || follows(entry, found))) {
          found = entry;
        }
      }
      return found && !found.item.id.startsWith("local_") ? found.item.id : null;
    },
    setStreaming(value) {
      streaming = value;
      if (!value) {
        clearStatus();
      }
      refreshActions();
    },
    /** The answer after the last user message (the last turn's), or null. */
    lastAnswerOfTurn() {
      const lastUser = lastOfType("user_message");
      const lastAnswer = lastOfType("assistant_message");
      return lastAnswer && (!lastUser || follows(lastAnswer, lastUser)) ? lastAnswer.item.id : null;
    },
    lastUserMessageId() {
      const entry = lastOfType("user_message");
      return entry && !entry.item.id.startsWith("local_") ? entry.item.id : null;
    },
    showStatus(text) {
      clearStatus();
      transient(h("p", { class: "bc-status", role: "status" }, h("span", { class: "bc-spinner", "aria-hidden": "true" }), text));
    },
    showNotice(level, message, title) {
      const row = h("div", { class: `bc-inline-notice bc-level-${level}`, role: level === "danger" ? "alert" : "status" });
      if (title) {
        row.append(h("p", { class: "bc-inline-notice-title" }, title));
      }
      const body = h("div", { class: "bc-md" });
      setMarkdown(body, message);
      row.append(body);
      return transient(row);
    },
    showError,
    clearTransient() {
      list.querySelectorAll(":scope > .bc-transient").forEach((row) => row.remove());
    },
    isEmpty: () => entries.size === 0,
  };
}

// The sources an answer cites (its content's annotations), once each, as links where they
// are web pages.
function renderSources(item) {
  const seen = new Set();
  const sources = [];
  for (const part of item.content ?? []) {
    for (const annotation of part.annotations ?? []) {
      const source = annotation?.source;
      const key = source && (source.url ?? source.filename ?? source.id ?? source.title);
      if (source && key && !seen.has(key)) {
        seen.add(key);
        sources.push(source);
      }
    }
  }
  if (!sources.length) {
    return [];
  }
  const items = sources.map((source) => {
    const title = source.title || source.url || source.filename || source.label || "";
    const safeUrl = source.type === "url" && /^https?:/i.test(source.url ?? "") ? source.url : null;
    const label = safeUrl
      ? h("a", { href: safeUrl, target: "_blank", rel: "noopener noreferrer nofollow" }, title)
      : h("span", {}, title);
    const detail = source.attribution || source.description || (safeUrl ? new URL(safeUrl).host : source.filename);
    return h("li", {}, label, detail && detail !== title ? h("span", { class: "bc-source-detail" }, detail) : null);
  });
  return [h("details", { class: "bc-sources" }, h("summary", {}, interpolate(gettext("Sources (%(count)s)"), { count: sources.length })), h("ol", {}, items))];
}

// The start of an answer, to tell its buttons from those of the others.
function snippetOf(text) {
  const flat = text.replace(/[#*_`>\[\]]/g, "").replace(/\s+/g, " ").trim();
  return flat.length > 40 ? `${flat.slice(0, 40)}…` : flat;
}

export function assistantText(item) {
  return (item.content ?? []).map((part) => part.text ?? "").join("\n\n");
}

function renderUserMessage(item, attachmentUrl) {
  const text = (item.content ?? [])
    .filter((part) => part.type !== "input_tag")
    .map((part) => part.text ?? "")
    .join("");
  const mentioned = (item.content ?? []).filter((part) => part.type === "input_tag");
  const bubble = h("div", { class: "bc-bubble" });
  if (item.quoted_text) {
    bubble.append(h("blockquote", { class: "bc-quoted" }, item.quoted_text));
  }
  // What the user typed is shown exactly as typed: as text, never as markup.
  bubble.append(h("p", { class: "bc-user-text" }, text));
  if (mentioned.length) {
    bubble.append(
      h("ul", { class: "bc-msg-tags", "aria-label": gettext("Mentions") }, mentioned.map((tag) => h("li", { class: "bc-tag" }, `@${tag.text}`))),
    );
  }
  const files = (item.attachments ?? []).map((attachment) => renderAttachment(attachment, attachmentUrl));
  if (files.length) {
    bubble.append(h("ul", { class: "bc-msg-attachments", "aria-label": gettext("Attachments") }, files));
  }
  return h(
    "article",
    { class: "bc-msg bc-msg-user", "data-item-id": item.id },
    h("span", { class: "bc-sr" }, gettext("You said:")),
    bubble,
  );
}

function renderAttachment(attachment, attachmentUrl) {
  const name = attachment.name || "attachment";
  if (attachment.type === "image" && attachment.preview_url) {
    return h(
      "li",
      { class: "bc-msg-image" },
      h(
        "a",
        { href: attachment.preview_url, target: "_blank", rel: "noopener noreferrer" },
        h("img", { src: attachment.preview_url, alt: name, loading: "lazy" }),
      ),
    );
  }
  return h(
    "li",
    { class: "bc-msg-file" },
    h(
      "a",
      { href: attachmentUrl(attachment.id), target: "_blank", rel: "noopener noreferrer" },
      icon("file", 16),
      h("span", {}, name),
    ),
  );
}

// A tool call shown compactly: one summary line, the details on demand.
function renderWorkflow(item) {
  const tasks = item.type === "task" ? [item.task] : (item.workflow?.tasks ?? []);
  const running = tasks.some((task) => task?.status_indicator === "loading");
  const summary = h(
    "summary",
    {},
    running ? h("span", { class: "bc-spinner", "aria-hidden": "true" }) : icon("tool", 16),
    h("span", {}, workflowSummary(item, tasks, running)),
  );
  const list = h(
    "ol",
    { class: "bc-tasks" },
    tasks.filter(Boolean).map((task) =>
      h(
        "li",
        {},
        h("span", { class: "bc-task-title" }, task.title || task.title_query || gettext("Step")),
        task.content ? h("span", { class: "bc-task-content" }, task.content) : null,
      ),
    ),
  );
  return h("details", { class: "bc-workflow", open: item.workflow?.expanded || false }, summary, list);
}

function workflowSummary(item, tasks, running) {
  const custom = item.workflow?.summary;
  if (custom?.title) {
    return custom.title;
  }
  const titles = tasks.filter(Boolean).map((task) => task.title).filter(Boolean);
  if (running) {
    return `${titles.at(-1) || gettext("Working")}…`;
  }
  if (titles.length === 1) {
    return titles[0];
  }
  if (custom?.duration !== undefined) {
    return interpolate(gettext("Worked for %(seconds)s s"), { seconds: custom.duration });
  }
  return titles.length
    ? interpolate(gettext("%(count)s steps: %(titles)s"), { count: titles.length, titles: titles.join(", ") })
    : gettext("Tool activity");
}

function describeOther(item) {
  if (item.type === "widget") {
    return item.copy_text || gettext("A widget this chat cannot show.");
  }
  if (item.type === "generated_image") {
    return item.image?.url
      ? h("img", { src: item.image.url, alt: gettext("Generated image"), loading: "lazy" })
      : gettext("An image is being generated…");
  }
  if (item.type === "client_tool_call") {
    return interpolate(gettext("Tool call: %(name)s"), { name: item.name });
  }
  return interpolate(gettext("An item of type “%(type)s” this chat cannot show."), { type: item.type });
}
