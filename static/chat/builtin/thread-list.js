// The history: the user's conversations, newest first, loaded a page at a time as the
// list is scrolled (threads.list with limit + after); each can be opened, renamed
// (threads.update) and deleted (threads.delete). Live sync adds, renames and removes rows
// as the user's other tabs change them.

import { h, iconButton } from "./dom.js";

const PAGE_SIZE = 20;
const NEAR_END_PX = 80;

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/**
 * `allow`: { rename, delete }; `titleMaxLength`: the longest title the server stores;
 * `currentId()`: the open thread; `onOpen(thread)`, `onRenamed(thread)`, `onDeleted(id)`.
 * Returns { element, refresh(), reload(), add(thread), remove(id), setTitle(id, title),
 * focus() }; `element` goes into the history view.
 */
export function createThreadList({ protocol, allow, titleMaxLength, currentId, onOpen, onRenamed, onDeleted }) {
  const list = h("ul", { class: "bc-threads", "aria-label": "Conversations" });
  const status = h("p", { class: "bc-threads-status", role: "status" });
  const scroller = h("div", { class: "bc-threads-scroller" }, list, status);
  const element = h("div", { class: "bc-history-list" }, scroller);

  let after = null;
  let hasMore = false;
  let loading = null;
  let generation = 0;
  let loaded = false; // shown at least once: rows kept up to date from then on
  const known = new Map(); // thread id -> the thread its row shows

  async function loadPage() {
    if (loading) {
      return loading;
    }
    const mine = generation;
    status.textContent = "Loading conversations…";
    loading = protocol
      .call("threads.list", { limit: PAGE_SIZE, order: "desc", ...(after ? { after } : {}) })
      .then((page) => {
        if (mine !== generation) {
          return;
        }
        page.data.filter((thread) => !rowOf(thread.id)).forEach((thread) => list.append(row(thread)));
        after = page.after ?? null;
        hasMore = Boolean(page.has_more && after);
        status.textContent = list.children.length ? "" : "No conversations yet.";
      })
      .catch((error) => {
        if (mine === generation) {
          status.textContent = `The conversations could not be loaded. ${error.message}`;
        }
      })
      .finally(() => {
        loading = null;
      });
    await loading;
    // A first page that does not fill the view gives nothing to scroll: keep going.
    if (mine === generation && hasMore && scroller.scrollHeight <= scroller.clientHeight + NEAR_END_PX) {
      await loadPage();
    }
  }

  scroller.addEventListener("scroll", () => {
    const distance = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
    if (hasMore && distance < NEAR_END_PX) {
      loadPage();
    }
  }, { passive: true });

  function row(thread) {
    const item = h("li", { class: "bc-thread", "data-thread-id": thread.id });
    known.set(thread.id, thread);
    fill(item, thread);
    return item;
  }

  function rowOf(id) {
    return list.querySelector(`[data-thread-id="${CSS.escape(id)}"]`);
  }

  function updateStatus() {
    if (!loading) {
      status.textContent = list.children.length ? "" : "No conversations yet.";
    }
  }

  function fill(item, thread) {
    const title = thread.title || "New conversation";
    const open = h(
      "button",
      {
        type: "button",
        class: "bc-thread-open",
        "aria-current": thread.id === currentId() ? "true" : null,
      },
      h("span", { class: "bc-thread-title" }, title),
      h("time", { class: "bc-thread-date", datetime: thread.created_at }, formatDate(thread.created_at)),
    );
    open.addEventListener("click", () => onOpen(thread));
    const buttons = [];
    if (allow.rename) {
      const rename = iconButton("pencil", `Rename “${title}”`, { "data-action": "rename" });
      rename.addEventListener("click", () => startRename(item, thread));
      buttons.push(rename);
    }
    if (allow.delete) {
      const remove = iconButton("trash", `Delete “${title}”`, { "data-action": "delete" });
      remove.addEventListener("click", () => confirmDelete(item, thread));
      buttons.push(remove);
    }
    item.replaceChildren(open, ...buttons);
  }

  // Back from renaming or deleting to the plain row, with the focus on it.
  function back(item, thread) {
    fill(item, thread);
    item.querySelector(".bc-thread-open").focus();
  }

  function startRename(item, thread) {
    const input = h("input", {
      type: "text",
      class: "bc-rename-input",
      value: thread.title || "",
      maxlength: titleMaxLength,
      "aria-label": "New title",
      required: true,
    });
    const save = h("button", { type: "submit", class: "bc-text-button" }, "Save");
    const cancel = h("button", { type: "button", class: "bc-text-button" }, "Cancel");
    const form = h("form", { class: "bc-rename" }, input, save, cancel);
    cancel.addEventListener("click", () => back(item, thread));
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault(); // cancels the rename, not the whole panel
        back(item, thread);
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const title = input.value.trim();
      if (!title || title === thread.title) {
        back(item, thread);
        return;
      }
      save.disabled = true;
      try {
        const updated = await protocol.call("threads.update", { thread_id: thread.id, title });
        Object.assign(thread, { title: updated.title ?? title });
        onRenamed(thread);
        back(item, thread);
      } catch (error) {
        save.disabled = false;
        status.textContent = `The conversation could not be renamed. ${error.message}`;
      }
    });
    item.replaceChildren(form);
    input.focus();
    input.select();
  }

  function confirmDelete(item, thread) {
    const title = thread.title || "New conversation";
    const yes = h("button", { type: "button", class: "bc-text-button bc-danger" }, "Delete");
    const no = h("button", { type: "button", class: "bc-text-button" }, "Cancel");
    const question = h("div", { class: "bc-confirm", role: "group", "aria-label": "Confirm deletion" },
      h("p", {}, `Delete “${title}”? This cannot be undone.`), yes, no);
    no.addEventListener("click", () => back(item, thread));
    question.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        back(item, thread);
      }
    });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        await protocol.call("threads.delete", { thread_id: thread.id });
        const next = item.nextElementSibling ?? item.previousElementSibling;
        item.remove();
        known.delete(thread.id);
        updateStatus();
        onDeleted(thread.id);
        (next?.querySelector(".bc-thread-open") ?? element.closest(".bc")?.querySelector(".bc-history-back"))?.focus();
      } catch (error) {
        yes.disabled = false;
        status.textContent = `The conversation could not be deleted. ${error.message}`;
      }
    });
    item.replaceChildren(question);
    no.focus();
  }

  return {
    element,
    /** Load the list afresh (it is shown again, and may have changed meanwhile). */
    refresh() {
      generation += 1;
      loaded = true;
      loading = null;
      after = null;
      hasMore = false;
      list.replaceChildren();
      known.clear();
      scroller.scrollTop = 0;
      return loadPage();
    },
    /** Load the list afresh if it was ever shown (notices may have been missed). */
    reload() {
      return loaded ? this.refresh() : Promise.resolve();
    },
    /** A conversation started elsewhere: at the top, as the newest. */
    add(thread) {
      if (!loaded || rowOf(thread.id)) {
        return;
      }
      list.prepend(row(thread));
      updateStatus();
    },
    /** A conversation deleted elsewhere. */
    remove(id) {
      const item = rowOf(id);
      if (!item) {
        return;
      }
      const hadFocus = item.contains(document.activeElement);
      const next = item.nextElementSibling ?? item.previousElementSibling;
      item.remove();
      known.delete(id);
      updateStatus();
      if (hadFocus) {
        (next?.querySelector(".bc-thread-open") ?? element.closest(".bc")?.querySelector(".bc-history-back"))?.focus();
      }
    },
    /** A new title, wherever it was given; a rename being typed here keeps its text. */
    setTitle(id, title) {
      const thread = known.get(id);
      if (thread) {
        thread.title = title;
      }
      const item = rowOf(id);
      const shown = title || "New conversation";
      const span = item?.querySelector(".bc-thread-title");
      if (span) {
        span.textContent = shown;
      }
      for (const [action, verb] of [["rename", "Rename"], ["delete", "Delete"]]) {
        const button = item?.querySelector(`[data-action="${action}"]`);
        button?.setAttribute("aria-label", `${verb} “${shown}”`);
        button?.setAttribute("title", `${verb} “${shown}”`);
      }
    },
    focus() {
      (list.querySelector(".bc-thread-open[aria-current]") ?? list.querySelector(".bc-thread-open"))?.focus();
    },
  };
}

function formatDate(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
}
