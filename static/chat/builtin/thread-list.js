// The history: the user's conversations, most recently active first, grouped by last
// activity (Today, Yesterday, Previous 7 days, Older), loaded a page at a time as the
// list is scrolled, and searched by title and message text (the site's search endpoint,
// GET `searchUrl`?q=&after=&limit=; without it, ChatKit's threads.list). Each can be opened,
// renamed (threads.update) and deleted (threads.delete). Live sync adds, renames and
// removes rows as the user's other tabs change them.

import { h, icon, iconButton } from "./dom.js";
import { gettext, interpolate } from "../i18n.js";
import { exactTime, relativeTime } from "./time.js";

const PAGE_SIZE = 20;
const NEAR_END_PX = 80;

const SEARCH_DELAY_MS = 250;
const DAY_MS = 24 * 3600 * 1000;

/** The group of a conversation last active at `date`, seen at `now`. */
export function activityGroup(date, now = new Date()) {
  const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const time = date.getTime();
  if (time >= midnight) {
    return gettext("Today");
  }
  if (time >= midnight - DAY_MS) {
    return gettext("Yesterday");
  }
  if (time >= midnight - 7 * DAY_MS) {
    return gettext("Previous 7 days");
  }
  return gettext("Older");
}

/**
 * `allow`: { rename, delete }; `titleMaxLength`: the longest title the server stores;
 * `currentId()`: the open thread; `onOpen(thread)`, `onRenamed(thread)`, `onDeleted(id)`.
 * Returns { element, refresh(), reload(), add(thread), remove(id), setTitle(id, title),
 * focus() }; `element` goes into the history view.
 */
export function createThreadList({ protocol, searchUrl = null, allow, titleMaxLength, currentId, onOpen, onRenamed, onDeleted }) {
  const list = h("ul", { class: "bc-threads", "aria-label": gettext("Conversations") });
  const status = h("p", { class: "bc-threads-status", role: "status" });
  const scroller = h("div", { class: "bc-threads-scroller" }, list, status);
  const searchBox = h("input", {
    type: "search",
    class: "bc-search-input",
    placeholder: gettext("Search conversations"),
    "aria-label": gettext("Search conversations by title or message"),
  });
  const search = searchUrl
    ? h("div", { class: "bc-search", role: "search" }, icon("search", 16), searchBox)
    : null;
  const element = h("div", { class: "bc-history-list" }, search, scroller);
  let query = "";
  let searchTimer = 0;
  searchBox.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      query = searchBox.value.trim();
      restart();
    }, SEARCH_DELAY_MS);
  });
  searchBox.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && searchBox.value) {
      event.preventDefault(); // clears the search, not the whole history
      searchBox.value = "";
      query = "";
      restart();
    }
  });

  // One page: the site's search (by last activity) when there is one, else threads.list.
  function fetchPage() {
    if (!searchUrl) {
      return protocol.call("threads.list", { limit: PAGE_SIZE, order: "desc", ...(after ? { after } : {}) });
    }
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (query) {
      params.set("q", query);
    }
    if (after) {
      params.set("after", after);
    }
    return protocol.rest("GET", `${searchUrl}?${params}`);
  }

  function emptyText() {
    return query
      ? interpolate(gettext("No conversation mentions “%(query)s”."), { query })
      : gettext("No conversations yet.");
  }

  // The group headings, put back in front of the first row of each group.
  function regroup() {
    list.querySelectorAll(":scope > .bc-thread-group").forEach((heading) => heading.remove());
    let last = null;
    for (const item of [...list.querySelectorAll(":scope > .bc-thread")]) {
      const group = activityGroup(new Date(item.dataset.activity));
      if (group !== last) {
        item.before(h("li", { class: "bc-thread-group" }, h("h4", {}, group)));
        last = group;
      }
    }
  }

  function rowCount() {
    return list.querySelectorAll(":scope > .bc-thread").length;
  }

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
    status.textContent = gettext("Loading conversations…");
    loading = fetchPage()
      .then((page) => {
        if (mine !== generation) {
          return;
        }
        page.data.filter((thread) => !rowOf(thread.id)).forEach((thread) => list.append(row(thread)));
        after = page.after ?? null;
        hasMore = Boolean(page.has_more && after);
        regroup();
        status.textContent = rowCount() ? "" : emptyText();
      })
      .catch((error) => {
        if (mine === generation) {
          status.textContent = `${gettext("The conversations could not be loaded.")} ${error.message}`;
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
    const item = h("li", {
      class: "bc-thread",
      "data-thread-id": thread.id,
      "data-activity": thread.updated_at ?? thread.created_at,
    });
    known.set(thread.id, thread);
    fill(item, thread);
    return item;
  }

  function rowOf(id) {
    return list.querySelector(`[data-thread-id="${CSS.escape(id)}"]`);
  }

  function updateStatus() {
    regroup();
    if (!loading) {
      status.textContent = rowCount() ? "" : emptyText();
    }
  }

  function fill(item, thread) {
    const title = thread.title || gettext("New conversation");
    const activity = new Date(thread.updated_at ?? thread.created_at);
    const valid = !Number.isNaN(activity.getTime());
    const open = h(
      "button",
      {
        type: "button",
        class: "bc-thread-open",
        "aria-current": thread.id === currentId() ? "true" : null,
      },
      h("span", { class: "bc-thread-title" }, title),
      thread.excerpt ? h("span", { class: "bc-thread-excerpt" }, thread.excerpt) : null,
      valid
        ? h("time", { class: "bc-thread-date", datetime: activity.toISOString(), title: exactTime(activity) }, relativeTime(activity))
        : null,
    );
    open.addEventListener("click", () => onOpen(thread));
    const buttons = [];
    if (allow.rename) {
      const rename = iconButton("pencil", interpolate(gettext("Rename “%(title)s”"), { title }), { "data-action": "rename" });
      rename.addEventListener("click", () => startRename(item, thread));
      buttons.push(rename);
    }
    if (allow.delete) {
      const remove = iconButton("trash", interpolate(gettext("Delete “%(title)s”"), { title }), { "data-action": "delete" });
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
      "aria-label": gettext("New title"),
      required: true,
    });
    const save = h("button", { type: "submit", class: "bc-text-button" }, gettext("Save"));
    const cancel = h("button", { type: "button", class: "bc-text-button" }, gettext("Cancel"));
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
        status.textContent = `${gettext("The conversation could not be renamed.")} ${error.message}`;
      }
    });
    item.replaceChildren(form);
    input.focus();
    input.select();
  }

  function confirmDelete(item, thread) {
    const title = thread.title || gettext("New conversation");
    const yes = h("button", { type: "button", class: "bc-text-button bc-danger" }, gettext("Delete"));
    const no = h("button", { type: "button", class: "bc-text-button" }, gettext("Cancel"));
    const question = h("div", { class: "bc-confirm", role: "group", "aria-label": gettext("Confirm deletion") },
      h("p", {}, interpolate(gettext("Delete “%(title)s”? This cannot be undone."), { title })), yes, no);
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
        status.textContent = `${gettext("The conversation could not be deleted.")} ${error.message}`;
      }
    });
    item.replaceChildren(question);
    no.focus();
  }

  // The list afresh from its first page (shown again, or the search changed).
  function restart() {
    generation += 1;
    loaded = true;
    loading = null;
    after = null;
    hasMore = false;
    list.replaceChildren();
    known.clear();
    scroller.scrollTop = 0;
    return loadPage();
  }

  return {
    element,
    /** Load the list afresh (it is shown again, and may have changed meanwhile). */
    refresh: restart,
    /** Load the list afresh if it was ever shown (notices may have been missed). */
    reload() {
      return loaded ? this.refresh() : Promise.resolve();
    },
    /** A conversation started elsewhere: at the top, as the newest. */
    add(thread) {
      if (!loaded || rowOf(thread.id)) {
        return;
      }
      list.prepend(row({ updated_at: new Date().toISOString(), ...thread }));
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
      const shown = title || gettext("New conversation");
      const span = item?.querySelector(".bc-thread-title");
      if (span) {
        span.textContent = shown;
      }
      for (const [action, format] of [["rename", gettext("Rename “%(title)s”")], ["delete", gettext("Delete “%(title)s”")]]) {
        const button = item?.querySelector(`[data-action="${action}"]`);
        const label = interpolate(format, { title: shown });
        button?.setAttribute("aria-label", label);
        button?.setAttribute("title", label);
      }
    },
    focus() {
      (list.querySelector(".bc-thread-open[aria-current]") ?? list.querySelector(".bc-thread-open"))?.focus();
    },
  };
}


