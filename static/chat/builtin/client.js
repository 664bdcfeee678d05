// The site's own chat client for the ChatKit protocol: used when OpenAI's widget cannot
// load (or the site is set to use it always). Same interface as the ChatKit client
// (mount, applyTheme, quote, focus), same endpoint through the same chatFetch (tokens,
// 401 retry, page context and the quoted selection), and the same remembered thread, so
// a conversation started in one client continues in the other.
//
// This module holds the conversation's state and the protocol flow; rendering lives in
// messages.js, thread-list.js and composer.js.

import { describeChatError } from "../notice.js";
import { quoteText } from "../selection.js";
import { rememberedThread, rememberThread } from "../thread-memory.js";
import { createUploader } from "./attachments.js";
import { createComposer } from "./composer.js";
import { h, icon, iconButton } from "./dom.js";
import { createMessageList } from "./messages.js";
import { createProtocol } from "./protocol.js";
import { createThreadList } from "./thread-list.js";

const ITEMS_PAGE_SIZE = 30;
const NEAR_TOP_PX = 120;
const NEW_TITLE = "New conversation";

let instances = 0;

/**
 * The built-in client. `fallbackReason` (a sentence fragment) is set when it stands in
 * for ChatKit, which the client then says in a one-line notice.
 */
export function createBuiltinClient({ config, chatFetch, theme, fallbackReason = "" }) {
  const userId = config.userId;
  const options = config.chatkit ?? {};
  const api = options.api ?? {};
  const allowHistory = options.history?.enabled !== false;
  const protocol = createProtocol({ url: api.url, chatFetch });
  const attachmentOptions = options.composer?.attachments?.enabled ? options.composer.attachments : null;
  const uploader = createUploader({ protocol, strategy: api.uploadStrategy, options: attachmentOptions });
  const id = `bc-${(instances += 1)}`;

  let threadId = rememberedThread(userId);
  let olderCursor = null;
  let loadingOlder = false;
  let view = 0; // bumped whenever another thread is shown; late answers for the old one are dropped
  let turn = null; // the streaming request: { controller, pendingUserId, userStored, text, attachments }

  // --- the DOM ---------------------------------------------------------------------------
  const title = h("h3", { class: "bc-title", id: `${id}-title` }, NEW_TITLE);
  const historyButton = allowHistory
    ? iconButton("history", "Conversation history", { "aria-expanded": "false", "aria-controls": `${id}-history` })
    : null;
  const newButton = iconButton("plus", "New conversation");
  const toolbar = h("div", { class: "bc-toolbar" }, historyButton, title, newButton);

  const start = h("div", { class: "bc-start", hidden: true });
  const log = h("div", {
    class: "bc-log",
    role: "log",
    "aria-live": "polite",
    "aria-labelledby": `${id}-title`,
  });
  const scroller = h("div", { class: "bc-scroller" }, start, log);
  const composer = createComposer({
    placeholder: options.composer?.placeholder ?? "",
    attachmentOptions,
    uploader,
    onSend: send,
    onStop: stop,
  });
  const conversation = h("div", { class: "bc-conversation" }, scroller, composer.element);

  const historyList = h("div", { class: "bc-history-list" });
  const historyBack = h(
    "button",
    { type: "button", class: "bc-text-button bc-history-back" },
    icon("back", 16),
    "Back to the conversation",
  );
  const history = h(
    "section",
    { class: "bc-history", id: `${id}-history`, hidden: true, "aria-label": "Conversation history" },
    h("div", { class: "bc-history-header" }, historyBack),
    historyList,
  );
  const root = h(
    "div",
    { class: "bc", "data-builtin-client": "", "data-theme": theme.current() },
    fallbackReason ? fallbackNotice(fallbackReason) : null,
    toolbar,
    h("div", { class: "bc-views" }, conversation, history),
  );

  const messages = createMessageList({
    scroller,
    list: log,
    allow: {
      feedback: options.threadItemActions?.feedback !== false,
      retry: options.threadItemActions?.retry !== false,
    },
    actions: { feedback, retry: retryLast },
    attachmentUrl: (attachmentId) =>
      (config.attachmentUrl ?? `${api.url}attachments/__id__/`).replace("__id__", encodeURIComponent(attachmentId)),
  });
  const threads = allowHistory
    ? createThreadList({
        element: historyList,
        protocol,
        allow: { rename: options.history?.showRename !== false, delete: options.history?.showDelete !== false },
        currentId: () => threadId,
        onOpen: (thread) => {
          showConversation();
          if (thread.id !== threadId) {
            openThread(thread.id);
          }
          composer.focus();
        },
        onRenamed: (thread) => {
          if (thread.id === threadId) {
            setTitle(thread.title);
          }
        },
        onDeleted: (deletedId) => {
          if (deletedId === threadId) {
            newConversation();
          }
        },
      })
    : null;

  // --- wiring ------------------------------------------------------------------------------
  historyButton?.addEventListener("click", () => (history.hidden ? showHistory() : showConversation(true)));
  historyBack.addEventListener("click", () => showConversation(true));
  newButton.addEventListener("click", () => {
    newConversation();
    composer.focus();
  });
  root.addEventListener("keydown", (event) => {
    // Escape leaves the history first; the panel closes on the next one.
    if (event.key === "Escape" && !history.hidden && !event.defaultPrevented) {
      event.preventDefault();
      showConversation(true);
    }
  });
  scroller.addEventListener("scroll", () => {
    if (scroller.scrollTop < NEAR_TOP_PX) {
      loadOlder();
    }
  }, { passive: true });
  if (attachmentOptions) {
    wireDrop(root, (files) => {
      showConversation();
      composer.addFiles(files);
    });
  }

  // --- views ---------------------------------------------------------------------------
  function showHistory() {
    history.hidden = false;
    conversation.hidden = true;
    historyButton?.setAttribute("aria-expanded", "true");
    threads.refresh().then(() => {
      if (!history.hidden && root.contains(document.activeElement)) {
        threads.focus();
      }
    });
    historyBack.focus();
  }

  function showConversation(focus = false) {
    if (history.hidden) {
      return;
    }
    history.hidden = true;
    conversation.hidden = false;
    historyButton?.setAttribute("aria-expanded", "false");
    messages.scroll.follow();
    if (focus) {
      historyButton?.focus();
    }
  }

  function setTitle(text) {
    title.textContent = text || NEW_TITLE;
  }

  function renderStart() {
    const screen = options.startScreen ?? {};
    const prompts = (screen.prompts ?? []).map((prompt) => {
      const button = h("button", { type: "button", class: "bc-prompt" }, prompt.label || prompt.prompt);
      button.addEventListener("click", () => send({ text: prompt.prompt || prompt.label, attachments: [] }));
      return h("li", {}, button);
    });
    start.replaceChildren(
      h("p", { class: "bc-greeting" }, screen.greeting || "How can I help?"),
      prompts.length ? h("ul", { class: "bc-prompts", "aria-label": "Suggestions" }, prompts) : null,
    );
  }

  function updateStart() {
    start.hidden = !(threadId === null && messages.isEmpty());
  }

  // --- threads -------------------------------------------------------------------------
  function newConversation() {
    stop();
    view += 1;
    threadId = null;
    olderCursor = null;
    rememberThread(userId, null);
    setTitle("");
    messages.reset([]);
    updateStart();
    showConversation();
  }

  async function openThread(openId) {
    stop();
    const mine = (view += 1);
    threadId = openId;
    olderCursor = null;
    rememberThread(userId, openId);
    setTitle("");
    messages.reset([]);
    updateStart();
    messages.showStatus("Loading the conversation…");
    try {
      const [thread, page] = await Promise.all([
        protocol.call("threads.get_by_id", { thread_id: openId }),
        protocol.call("items.list", { thread_id: openId, limit: ITEMS_PAGE_SIZE, order: "desc" }),
      ]);
      if (mine !== view) {
        return;
      }
      setTitle(thread.title);
      messages.reset([...page.data].reverse());
      olderCursor = page.has_more ? page.after : null;
      messages.scroll.toEnd();
      fillView(mine);
    } catch (error) {
      if (mine !== view) {
        return;
      }
      if (error.status === 404) {
        // Deleted, or not this user's: start afresh rather than show a dead thread.
        newConversation();
        return;
      }
      messages.clearTransient();
      messages.showError(readable(error), { retry: () => openThread(openId) });
    }
  }

  // A first page shorter than the view leaves nothing to scroll up: load older at once.
  function fillView(mine) {
    if (mine === view && olderCursor && scroller.scrollHeight <= scroller.clientHeight + NEAR_TOP_PX) {
      loadOlder().then(() => fillView(mine));
    }
  }

  async function loadOlder() {
    if (!olderCursor || loadingOlder || !threadId) {
      return;
    }
    loadingOlder = true;
    const mine = view;
    try {
      const page = await protocol.call("items.list", {
        thread_id: threadId,
        limit: ITEMS_PAGE_SIZE,
        order: "desc",
        after: olderCursor,
      });
      if (mine === view) {
        messages.prepend([...page.data].reverse());
        olderCursor = page.has_more ? page.after : null;
      }
    } catch (error) {
      console.error("Older messages could not be loaded", error);
    } finally {
      loadingOlder = false;
    }
  }

  // --- turns ---------------------------------------------------------------------------
  async function send({ text, attachments }) {
    if (turn) {
      return;
    }
    messages.clearTransient();
    const input = {
      content: [{ type: "input_text", text }],
      attachments: attachments.map((attachment) => attachment.id),
      inference_options: {},
    };
    // Shown at once; replaced by the stored message when the server confirms it.
    const pendingUserId = `local_${Date.now()}`;
    messages.upsert({ id: pendingUserId, type: "user_message", content: input.content, attachments });
    updateStart();
    messages.scroll.toEnd();
    const [type, params] = threadId
      ? ["threads.add_user_message", { thread_id: threadId, input }]
      : ["threads.create", { input }];
    await run(type, params, { pendingUserId, text, attachments });
  }

  async function retryLast() {
    const userMessageId = messages.lastUserMessageId();
    if (turn || !threadId || !userMessageId) {
      return;
    }
    // The server drops everything after that message and answers it again.
    messages.removeAfter(userMessageId);
    await run("threads.retry_after_item", { thread_id: threadId, item_id: userMessageId }, {});
  }

  function stop() {
    turn?.controller.abort();
  }

  async function run(type, params, { pendingUserId = null, text = "", attachments = [] }) {
    const mine = view;
    const current = { controller: new AbortController(), pendingUserId, userStored: !pendingUserId };
    turn = current;
    composer.setStreaming(true);
    messages.setStreaming(true);
    let outcome;
    try {
      outcome = await protocol.stream(type, params, {
        signal: current.controller.signal,
        onEvent: (event) => {
          if (mine === view) {
            handle(event, current);
          }
        },
      });
    } catch (error) {
      if (mine === view) {
        failed(error, current, text, attachments);
      }
    } finally {
      turn = null;
      composer.setStreaming(false);
      messages.setStreaming(false);
    }
    if (outcome === "stopped" && mine === view) {
      // The server keeps what was said so far; mark it as cut short here too.
      messages.busyIds().forEach((itemId) => messages.markStopped(itemId));
      if (!current.userStored) {
        messages.remove(pendingUserId);
        composer.restore(text, attachments);
      }
      updateStart();
    }
    if (mine === view) {
      composer.focus();
    }
  }

  function failed(error, current, text, attachments) {
    messages.busyIds().forEach((itemId) => messages.setBusy(itemId, false));
    if (!current.userStored) {
      // The server never kept the message: give it back to the composer to send again.
      messages.remove(current.pendingUserId);
      composer.restore(text, attachments);
      updateStart();
      messages.showError(`Your message was not sent. ${readable(error)}`);
      return;
    }
    messages.showError(readable(error), error.retryable ? { retry: retryLast } : {});
  }

  function handle(event, current) {
    switch (event.type) {
      case "thread.created":
        threadId = event.thread.id;
        rememberThread(userId, threadId);
        setTitle(event.thread.title);
        break;
      case "thread.updated":
        setTitle(event.thread.title);
        threads?.setTitle(event.thread.id, event.thread.title);
        break;
      case "thread.item.added":
      case "thread.item.replaced":
        accept(event.item, current);
        if (event.type === "thread.item.added" && event.item.type === "assistant_message") {
          messages.setBusy(event.item.id, true);
        }
        break;
      case "thread.item.updated":
        messages.update(event.item_id, event.update);
        break;
      case "thread.item.done":
        accept(event.item, current);
        messages.setBusy(event.item.id, false);
        break;
      case "thread.item.removed":
        messages.remove(event.item_id);
        break;
      case "stream_options":
        composer.setCancellable(event.stream_options?.allow_cancel !== false);
        break;
      case "progress_update":
        messages.showStatus(event.text);
        break;
      case "notice":
        messages.showNotice(event.level, event.message, event.title);
        break;
      case "error":
        messages.busyIds().forEach((itemId) => messages.setBusy(itemId, false));
        messages.showError(
          event.message || "Something went wrong while answering.",
          event.allow_retry ? { retry: retryLast } : {},
        );
        break;
      default:
        // client_effect and future event types: nothing to show.
        break;
    }
    updateStart();
  }

  // The stored user message takes the place of the one shown while sending.
  function accept(item, current) {
    if (item.type === "user_message" && !current.userStored) {
      current.userStored = true;
      messages.replace(current.pendingUserId, item);
    } else {
      messages.upsert(item);
    }
  }

  async function feedback(itemId, kind) {
    await protocol.call("items.feedback", { thread_id: threadId, item_ids: [itemId], kind });
  }

  // --- the client interface --------------------------------------------------------------
  return {
    mount(container) {
      renderStart();
      updateStart();
      container.replaceChildren(root);
      if (threadId) {
        openThread(threadId);
      }
    },
    applyTheme() {
      root.dataset.theme = theme.current();
    },
    async quote(text) {
      showConversation();
      composer.setValue(quoteText(text));
      composer.focus();
    },
    focus() {
      composer.focus();
    },
  };
}

function readable(error) {
  if (error?.name === "ChatRequestError" || error?.name === "SessionEndedError") {
    return error.message;
  }
  return describeChatError(error);
}

// Says, once, why this is not the ChatKit widget; the details are one click away.
function fallbackNotice(reason) {
  const dismiss = iconButton("close", "Dismiss this message", { class: "bc-icon-button bc-fallback-dismiss" });
  const notice = h(
    "div",
    { class: "bc-fallback", role: "status" },
    h("p", {}, "The chat widget could not be loaded, so this is the site's built-in chat."),
    h("details", {}, h("summary", {}, "Why?"), h("p", {}, `${capitalise(reason)}.`)),
    dismiss,
  );
  dismiss.addEventListener("click", () => notice.remove());
  return notice;
}

function capitalise(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

// Files dropped anywhere on the client go to the composer.
function wireDrop(root, onFiles) {
  let depth = 0;
  const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
  root.addEventListener("dragenter", (event) => {
    if (hasFiles(event)) {
      depth += 1;
      root.dataset.dropping = "true";
    }
  });
  root.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) {
      delete root.dataset.dropping;
    }
  });
  root.addEventListener("dragover", (event) => {
    if (hasFiles(event)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  });
  root.addEventListener("drop", (event) => {
    if (!hasFiles(event)) {
      return;
    }
    event.preventDefault();
    depth = 0;
    delete root.dataset.dropping;
    onFiles([...event.dataTransfer.files]);
  });
}
