// The site's own chat client for the ChatKit protocol: used when OpenAI's widget cannot
// load (or the site is set to use it always). Same interface as the ChatKit client
// (mount, applyTheme, quote, focus), same endpoint through the same chatFetch (tokens,
// 401 retry, page context and the quoted selection), and the same remembered thread, so
// a conversation started in one client continues in the other.
//
// This module is the controller: the conversation's state (which thread, how far back it
// is loaded, the answer streaming now) and the protocol flow (open, page, send, retry,
// stop, the stream's events). The screen is built and wired by view.js.

import { describeChatError } from "../notice.js";
import { quoteText } from "../selection.js";
import { rememberedThread, rememberThread } from "../thread-memory.js";
import { createUploader } from "./attachments.js";
import { createProtocol } from "./protocol.js";
import { createThreadList } from "./thread-list.js";
import { createView } from "./view.js";

const ITEMS_PAGE_SIZE = 30;

/**
 * The built-in client. `fallbackReason` (a sentence fragment) is set when it stands in
 * for ChatKit, which the client then says in a one-line notice.
 */
export function createBuiltinClient({ config, chatFetch, theme, fallbackReason = "" }) {
  const userId = config.userId;
  const options = config.chatkit ?? {};
  const api = options.api ?? {};
  const protocol = createProtocol({ url: api.url, chatFetch });
  const attachmentOptions = options.composer?.attachments?.enabled ? options.composer.attachments : null;

  let threadId = rememberedThread(userId);
  let olderCursor = null;
  let loadingOlder = false;
  let generation = 0; // bumped whenever another thread is shown; late answers for the old one are dropped
  let turn = null; // the streaming request: { controller, pendingUserId, userStored }

  const threads = options.history?.enabled !== false
    ? createThreadList({
        protocol,
        allow: { rename: options.history?.showRename !== false, delete: options.history?.showDelete !== false },
        titleMaxLength: config.titleMaxLength,
        currentId: () => threadId,
        onOpen: (thread) => {
          view.showConversation();
          if (thread.id !== threadId) {
            openThread(thread.id);
          }
          view.composer.focus();
        },
        onRenamed: (thread) => {
          if (thread.id === threadId) {
            view.setTitle(thread.title);
          }
        },
        onDeleted: (deletedId) => {
          if (deletedId === threadId) {
            newConversation();
          }
        },
      })
    : null;
  const view = createView({
    options,
    themeName: theme.current(),
    fallbackReason,
    threads,
    attachmentOptions,
    uploader: createUploader({ protocol, strategy: api.uploadStrategy, options: attachmentOptions }),
    attachmentUrl: (attachmentId) =>
      config.attachmentUrl.replace(config.attachmentIdPlaceholder, encodeURIComponent(attachmentId)),
    hiddenItemTypes: config.hiddenItemTypes,
    actions: { send, stop, retry: retryLast, feedback, newConversation, loadOlder },
  });
  const { messages, composer } = view;

  function updateStart() {
    view.setStartShown(threadId === null && messages.isEmpty());
  }

  // --- threads -------------------------------------------------------------------------
  function newConversation() {
    stop();
    generation += 1;
    threadId = null;
    olderCursor = null;
    rememberThread(userId, null);
    view.setTitle("");
    messages.reset([]);
    updateStart();
    view.showConversation();
  }

  async function openThread(openId) {
    stop();
    const mine = (generation += 1);
    threadId = openId;
    olderCursor = null;
    rememberThread(userId, openId);
    view.setTitle("");
    messages.reset([]);
    updateStart();
    messages.showStatus("Loading the conversation…");
    try {
      const [thread, page] = await Promise.all([
        protocol.call("threads.get_by_id", { thread_id: openId }),
        protocol.call("items.list", { thread_id: openId, limit: ITEMS_PAGE_SIZE, order: "desc" }),
      ]);
      if (mine !== generation) {
        return;
      }
      view.setTitle(thread.title);
      messages.reset([...page.data].reverse());
      olderCursor = page.has_more ? page.after : null;
      messages.scroll.toEnd();
      fillView(mine);
    } catch (error) {
      if (mine !== generation) {
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
    if (mine === generation && olderCursor && view.needsMoreAbove()) {
      loadOlder().then(() => fillView(mine));
    }
  }

  async function loadOlder() {
    if (!olderCursor || loadingOlder || !threadId) {
      return;
    }
    loadingOlder = true;
    const mine = generation;
    try {
      const page = await protocol.call("items.list", {
        thread_id: threadId,
        limit: ITEMS_PAGE_SIZE,
        order: "desc",
        after: olderCursor,
      });
      if (mine === generation) {
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
    const mine = generation;
    const current = { controller: new AbortController(), pendingUserId, userStored: !pendingUserId };
    turn = current;
    composer.setStreaming(true);
    messages.setStreaming(true);
    let outcome;
    try {
      outcome = await protocol.stream(type, params, {
        signal: current.controller.signal,
        onEvent: (event) => {
          if (mine === generation) {
            handle(event, current);
          }
        },
      });
    } catch (error) {
      if (mine === generation) {
        failed(error, current, text, attachments);
      }
    } finally {
      turn = null;
      composer.setStreaming(false);
      messages.setStreaming(false);
    }
    if (outcome === "stopped" && mine === generation) {
      // The server keeps what was said so far; mark it as cut short here too.
      messages.busyIds().forEach((itemId) => messages.markStopped(itemId));
      if (!current.userStored) {
        messages.remove(pendingUserId);
        composer.restore(text, attachments);
      }
      updateStart();
    }
    if (mine === generation) {
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
        view.setTitle(event.thread.title);
        break;
      case "thread.updated":
        view.setTitle(event.thread.title);
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
      updateStart();
      container.replaceChildren(view.root);
      if (threadId) {
        openThread(threadId);
      }
    },
    applyTheme() {
      view.applyTheme(theme.current());
    },
    async quote(text) {
      view.showConversation();
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
