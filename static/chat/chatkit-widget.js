// The OpenAI ChatKit web component as the panel's chat client.
// The element is created when the panel first opens (a widget initialised inside a
// hidden container measures zero and stays broken), and every change hands it the FULL
// option set, because setOptions replaces the options instead of merging them.
//
// Answers run on the server as jobs of their own. The widget's stop button aborts its
// request, which the widget's fetch turns into a stop request (chat-fetch.js). An answer
// of the widget's thread that the widget does not stream itself (asked in another tab, or
// before this page was opened) is shown as it grows by asking the widget to re-read the
// thread (`fetchUpdates()`) every second while it runs, and once more when it ends.

import { CHATKIT_TAG } from "./cdn-loader.js";
import { createWidgetFetch } from "./chat-fetch.js";
import { createProtocolHandlers } from "./client-tools.js";
import { describeChatError } from "./notice.js";
import { quoteText } from "./selection.js";
import { rememberedThread, rememberThread } from "./thread-memory.js";

// How often the widget re-reads its thread while an answer runs in the background.
const UPDATE_EVERY_MS = 1_000;

/**
 * ChatKit's complete options: the server's part plus what only the page knows (the fetch,
 * the theme, the thread, and the `protocol` handlers of client-tools.js: client tools,
 * client-handled widget actions, @-mention search and previews).
 */
export function chatKitOptions({ config, chatFetch, colorScheme, threadId, protocol = null }) {
  // A fresh copy each time: ChatKit keeps what it is given, later calls must not alter it.
  const base = structuredClone(config.chatkit);
  const options = {
    ...base,
    api: { ...base.api, fetch: chatFetch },
    theme: { colorScheme },
    initialThread: threadId,
  };
  if (protocol) {
    options.onClientTool = protocol.onClientTool;
    options.widgets = { ...base.widgets, onAction: protocol.widgets.onAction };
    if (protocol.entities) {
      options.entities = { ...base.entities, ...protocol.entities };
    }
  }
  return options;
}

/**
 * Keep the widget up to date with the answers of its thread that it does not stream
 * itself. `turns`: the turn API (its resume stream says whether an answer runs, and ends
 * when it does); `isStreaming(threadId)`: whether the widget streams one itself;
 * `streamedSince(threadId, time)`: whether it did at any moment since `time`;
 * `fetchUpdates()`: the widget re-reads its thread.
 * Returns { watch(threadId), onLive(message), following() }.
 */
export function createBackgroundUpdates({
  turns,
  isStreaming,
  streamedSince = isStreaming,
  fetchUpdates,
  every = UPDATE_EVERY_MS,
}) {
  let watched = null; // the widget's thread
  let current = null; // the answer followed: { threadId, controller, timer }
  const started = new Map(); // turn id -> when live sync said it started

  function update(threadId) {
    if (threadId !== watched || isStreaming(threadId)) {
      return;
    }
    Promise.resolve()
      .then(fetchUpdates)
      .catch((error) => console.error("The chat could not re-read its thread", error));
  }

  function end() {
    current?.controller.abort();
    current = null;
  }

  // Follow the answer running in `threadId`, if one runs, until it ends.
  async function follow(threadId) {
    if (!turns || !threadId || isStreaming(threadId)) {
      return;
    }
    if (current?.threadId === threadId) {
      // Already asked: ask again when that is answered (an answer may start just after).
      current.again = true;
      return;
    }
    end();
    const following = { threadId, controller: new AbortController(), timer: 0, again: false };
    current = following;
    const { signal } = following.controller;
    try {
      const response = await turns.resume(threadId, { signal });
      if (!response) {
        return;
      }
      update(threadId);
      following.timer = setInterval(() => update(threadId), every);
      // Nothing to read in it (the widget reads the thread): it ends when the answer does.
      const reader = response.body.getReader();
      while (!(await reader.read()).done) {
        // keep reading
      }
      update(threadId);
    } catch (error) {
      if (!signal.aborted) {
        console.error("The running answer could not be followed", error);
      }
    } finally {
      clearInterval(following.timer);
      if (current === following) {
        current = null;
        if (following.again && !signal.aborted) {
          follow(threadId);
        }
      }
    }
  }

  return {
    /** The widget shows `threadId` now (null: a new conversation). */
    watch(threadId) {
      if (threadId === watched) {
        return;
      }
      watched = threadId;
      end();
      follow(threadId);
    },
    /** A live-sync message (static/chat/live.js). */
    onLive(message) {
      if (message.type === "live.ready") {
        // Notices may have been missed while the connection was down.
        if (message.reconnected) {
          follow(watched);
        }
        return;
      }
      let since = Infinity;
      if (message.type === "turn.started") {
        started.set(message.turn_id, performance.now());
      } else if (message.type === "turn.finished") {
        since = started.get(message.turn_id) ?? Infinity;
        started.delete(message.turn_id);
      }
      if (!watched || message.thread_id !== watched) {
        return;
      }
      if (message.type === "turn.started") {
        follow(watched);
      } else if (message.type === "turn.finished" && !streamedSince(watched, since)) {
        // Not for an answer the widget streamed itself: it has it all.
        update(watched);
      }
    },
    following: () => current?.threadId ?? null,
  };
}

/**
 * A chat client backed by <openai-chatkit>.
 * Returns { mount(container), applyTheme(), quote(text), focus() }.
 */
export function createChatKitClient({ config, chatFetch, turns = null, live = null, theme, notice }) {
  const userId = config.userId;
  let threadId = rememberedThread(userId);
  let element = null;
  let markReady;
  const ready = new Promise((resolve) => {
    markReady = resolve;
  });
  const widgetFetch = turns ? createWidgetFetch({ chatFetch, stopTurn: (id) => turns.stop(id) }) : chatFetch;
  const background = createBackgroundUpdates({
    turns,
    isStreaming: (id) => widgetFetch.isStreaming?.(id) ?? false,
    streamedSince: (id, time) => widgetFetch.streamedSince?.(id, time) ?? false,
    fetchUpdates: () => element?.fetchUpdates?.(),
  });

  // Client tools, effects and client actions go through the site's registry.
  const protocol = createProtocolHandlers({
    config,
    chatFetch,
    page: {
      theme,
      notice,
      // The element's method for sending an action to the server (named either way).
      sendAction: (action) => (element?.sendCustomAction ?? element?.sendAction)?.call(element, action),
    },
  });

  const options = () =>
    chatKitOptions({
      config,
      chatFetch: widgetFetch,
      colorScheme: theme.current(),
      threadId,
      protocol,
    });

  function listen(chatkit) {
    chatkit.addEventListener("chatkit.ready", () => markReady(), { once: true });
    chatkit.addEventListener("chatkit.thread.change", (event) => {
      threadId = event.detail?.threadId ?? null;
      rememberThread(userId, threadId);
      background.watch(threadId);
    });
    chatkit.addEventListener("chatkit.effect", (event) => {
      protocol.onEffect(event.detail?.name, event.detail?.data);
    });
    chatkit.addEventListener("chatkit.error", (event) => {
      const error = event.detail?.error;
      console.error("ChatKit error:", error);
      notice.show(describeChatError(error));
    });
  }

  function onLive(message) {
    if (message.type === "thread.deleted" && message.thread_id === threadId) {
      // Deleted in another tab: the widget goes to a new conversation.
      ready
        .then(() => element.setThreadId(null))
        .catch((error) => console.error("ChatKit could not leave a deleted thread", error));
      return;
    }
    background.onLive(message);
  }

  return {
    mount(container) {
      element = document.createElement(CHATKIT_TAG);
      listen(element);
      element.setOptions(options());
      container.replaceChildren(element);
      live?.subscribe(onLive);
      // The thread it opens may have an answer running (asked before this page was).
      background.watch(threadId);
    },
    applyTheme() {
      element?.setOptions(options());
    },
    async quote(text, { newThread = false } = {}) {
      await ready;
      if (newThread) {
        await element.setThreadId(null); // "Ask AI … in a new chat"
      }
      await element.setComposerValue({ text: quoteText(text) });
      await element.focusComposer();
    },
    focus() {
      ready
        .then(() => element.focusComposer())
        .catch((error) => console.error("ChatKit could not focus its composer", error));
    },
  };
}
