// The site's own chat client for the ChatKit protocol: used when OpenAI's widget cannot
// load (or the site is set to use it always). Same interface as the ChatKit client
// (mount, applyTheme, quote, focus), same endpoint through the same chatFetch (tokens,
// 401 retry, page context and the quoted selection), and the same remembered thread, so
// a conversation started in one client continues in the other.
//
// This module is the controller: the conversation's state (which thread, how far back it
// is loaded, the answer streaming now) and the protocol flow (open, page, send, retry,
// stop, the stream's events). The screen is built and wired by view.js.
//
// An answer runs on the server as a job of its own: it goes on when this page is left or
// another conversation is opened, and only the stop button stops it (a stop request, not
// a hung-up fetch). Opening a thread whose answer is still running resumes it: the thread
// is read afresh, then the running answer's events are applied from its first one (items
// the thread already shows are replaced in place, never added twice). Live sync
// (static/chat/live.js) keeps this tab in step with the user's others: answers started
// there are followed here, renames and deletions show at once.

import { createProtocolHandlers } from "../client-tools.js";
import { describeChatError } from "../notice.js";
import { rememberedThread, rememberThread } from "../thread-memory.js";
import { createUploader } from "./attachments.js";
import { gettext } from "../i18n.js";
import { createProtocol } from "./protocol.js";
import { createThreadList } from "./thread-list.js";
import { createView } from "./view.js";
import { renderWidget } from "./widgets.js";

const ITEMS_PAGE_SIZE = 30;
// A stream lost again within this time is resumed when the user asks, not by itself.
const RECONNECT_PAUSE_MS = 10_000;

/**
 * The built-in client. `fallbackReason` (a sentence fragment) is set when it stands in
 * for ChatKit, which the client then says in a one-line notice.
 */
export function createBuiltinClient({
  config,
  chatFetch,
  theme,
  turns,
  live = null,
  notice = null,
  fallbackReason = "",
  handlers = null,
}) {
  const userId = config.userId;
  // Client tools, client effects and widget actions for the page (handler "client"): the
  // site's registry on `window.chat` and the built-ins, as the ChatKit widget has them.
  const page = handlers ?? createProtocolHandlers({ config, chatFetch, page: { theme, notice } });
  const options = config.chatkit ?? {};
  const api = options.api ?? {};
  const protocol = createProtocol({ url: api.url, chatFetch, turns });
  const attachmentOptions = options.composer?.attachments?.enabled ? options.composer.attachments : null;

  let threadId = rememberedThread(userId);
  let olderCursor = null;
  let loadingOlder = false;
  let generation = 0; // bumped whenever another thread is shown; late answers for the old one are dropped
  // The answer this tab streams: its own request, or one running on the server that it
  // follows. { kind: "send" | "follow", controller, threadId, pendingUserId, userStored,
  // stopRequested, stopSent }
  let turn = null;
  let opening = null; // a thread being read and asked for its running answer: { controller, done }
  let readings = 0; // bumped by every reading of the thread: only the latest is shown
  const ownTurns = new Set(); // turns (live sync's ids) this tab streams itself
  const stoppedIds = new Set(); // answers shown as stopped
  let leftDeleted = null; // the open thread, left when live sync said it was deleted
  let lastReconnect = -Infinity; // when a lost stream was last resumed by itself

  const urls = config.clientUrls ?? {};
  const clientUrl = (name, thread, item = "") =>
    urls[name]
      .replace(config.threadIdPlaceholder, encodeURIComponent(thread))
      .replace(config.itemIdPlaceholder, encodeURIComponent(item));

  const threads = options.history?.enabled !== false
    ? createThreadList({
        protocol,
        searchUrl: urls.search,
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
          // Its notice may have come first and left the thread already.
          if (deletedId === threadId || deletedId === leftDeleted) {
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
    actions: {
      send,
      stop,
      retry: retryLast,
      feedback,
      clearFeedback,
      continueFrom,
      edit,
      widgetAction,
      transcribe,
      newConversation,
      loadOlder,
    },
    messageMaxBytes: config.messageMaxBytes,
    mentions: config.entityUrls ? mentionSearch(config.entityUrls) : null,
    fullPageUrl: config.fullPageUrl,
  });
  const { messages, composer } = view;

  function updateStart() {
    view.setStartShown(threadId === null && messages.isEmpty());
  }

  // --- threads -------------------------------------------------------------------------

  // Stop showing the answer streaming here, without stopping it: it goes on on the
  // server, and opening its thread again resumes it.
  function detach() {
    opening?.controller.abort();
    opening = null;
    turn?.controller.abort();
  }

  function newConversation({ show = true } = {}) {
    detach();
    generation += 1;
    threadId = null;
    olderCursor = null;
    rememberThread(userId, null);
    view.setTitle("");
    messages.reset([]);
    updateStart();
    if (show) {
      view.showConversation();
    }
  }

  function openThread(openId) {
    detach();
    generation += 1;
    threadId = openId;
    olderCursor = null;
    rememberThread(userId, openId);
    view.setTitle("");
    messages.reset([]);
    updateStart();
    messages.showStatus(gettext("Loading the conversation…"));
    return showThread(openId);
  }

  // Read the open thread `openId` afresh and resume the answer running in it, if any. The
  // server is asked first whether one runs: the thread read after that has everything
  // before the answer's first event, and the answer is replayed from that event on, so
  // nothing is missed, and what both have is replaced in place rather than added twice.
  async function showThread(openId) {
    detach();
    const mine = generation;
    const controller = new AbortController();
    const current = { kind: "follow", controller, threadId: openId, userStored: true };
    let finished;
    opening = { controller, done: new Promise((resolve) => (finished = resolve)) };
    const mineOpening = opening;
    let shown = false;
    let outcome = "none";
    try {
      outcome = await protocol.follow(openId, {
        signal: controller.signal,
        ready: async (running) => {
          shown = await readThread(openId, mine);
          if (!shown || controller.signal.aborted) {
            throw new Superseded();
          }
          if (opening === mineOpening) {
            opening = null;
          }
          if (running) {
            startTurn(current);
          }
          finished();
        },
        onEvent: (event) => {
          if (mine === generation && turn === current) {
            handle(event, current);
          }
        },
      });
    } catch (error) {
      if (error instanceof Superseded || controller.signal.aborted || mine !== generation) {
        outcome = "stopped";
      } else if (!shown) {
        // Whether an answer runs could not be asked: show the thread all the same.
        console.error("The running answer could not be resumed", error);
        await readThread(openId, mine);
      } else {
        lost(error, current);
      }
    } finally {
      if (opening === mineOpening) {
        opening = null;
      }
      finished();
      endTurn(current);
    }
    if (mine === generation && outcome === "complete") {
      afterStream(current);
    }
  }

  // The thread and its newest items, shown in place of what is shown; false when they
  // could not be read or another reading (or thread) came since.
  async function readThread(openId, mine, { toEnd = true } = {}) {
    const reading = (readings += 1);
    const current = () => mine === generation && reading === readings;
    try {
      const [thread, page] = await Promise.all([
        protocol.call("threads.get_by_id", { thread_id: openId }),
        protocol.call("items.list", { thread_id: openId, limit: ITEMS_PAGE_SIZE, order: "desc" }),
      ]);
      if (!current()) {
        return false;
      }
      view.setTitle(thread.title);
      messages.reset([...page.data].reverse());
      stoppedIds.forEach((itemId) => messages.markStopped(itemId));
      olderCursor = page.has_more ? page.after : null;
      loadStates(openId, current);
      updateStart();
      if (toEnd) {
        messages.scroll.toEnd();
      } else {
        messages.scroll.follow();
      }
      fillView(mine);
      return true;
    } catch (error) {
      if (!current()) {
        return false;
      }
      if (error.status === 404) {
        // Deleted, or not this user's: start afresh rather than show a dead thread.
        newConversation({ show: false });
        return false;
      }
      messages.clearTransient();
      messages.showError(readable(error), { retry: () => openThread(openId) });
      return false;
    }
  }

  // Read the open thread again when an answer changed it that this tab did not stream (or
  // did not see to its end). `stopped`: the answer was stopped; `cut`: answers known to
  // be cut short. Nothing happens while an answer streams here: its stream has the news.
  async function refreshThread({ stopped = false, cut = [] } = {}) {
    if (!threadId || turn || opening) {
      return;
    }
    const mine = generation;
    const shown = await readThread(threadId, mine, { toEnd: false });
    if (!shown || turn) {
      return;
    }
    const ids = [...cut];
    if (stopped) {
      ids.push(messages.lastAnswerOfTurn());
    }
    ids.filter(Boolean).forEach((itemId) => {
      stoppedIds.add(itemId);
      messages.markStopped(itemId);
    });
  }

  // The user's votes and the answers cut short, as the server remembers them: shown after a
  // reload as they were left.
  async function loadStates(openId, current) {
    if (!urls.itemStates) {
      return;
    }
    try {
      const states = await protocol.rest("GET", clientUrl("itemStates", openId));
      if (current()) {
        messages.applyStates(states);
      }
    } catch (error) {
      console.error("The votes and stopped answers could not be read", error);
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
  // @-mentions through the site's entity endpoints: search by text, a preview widget.
  function mentionSearch(entityUrls) {
    const query = (url, params) => protocol.rest("GET", `${url}?${new URLSearchParams(params)}`);
    return {
      search: async (text) => (await query(entityUrls.search, { q: text })).entities ?? [],
      preview: async (entity) => {
        const answer = await query(entityUrls.preview, { id: entity.id });
        return answer.preview
          ? renderWidget(answer.preview, { onAction: () => {} }).element
          : document.createTextNode(gettext("No preview."));
      },
    };
  }

  async function send({ text, attachments, quote = "", inference = {}, tags = [] }) {
    if (opening) {
      // The thread is being read: the message goes after what it shows.
      await opening.done;
    }
    if (turn) {
      // An answer (resumed meanwhile) is running: the message waits in the composer.
      composer.restore(text, attachments, quote);
      return;
    }
    messages.clearTransient();
    const input = {
      content: [{ type: "input_text", text }, ...tags],
      attachments: attachments.map((attachment) => attachment.id),
      inference_options: inference,
      ...(quote ? { quoted_text: quote } : {}),
    };
    // Shown at once; replaced by the stored message when the server confirms it.
    const pendingUserId = `local_${Date.now()}`;
    messages.upsert({ id: pendingUserId, type: "user_message", content: input.content, attachments, quoted_text: quote || null });
    updateStart();
    messages.scroll.toEnd();
    const [type, params] = threadId
      ? ["threads.add_user_message", { thread_id: threadId, input }]
      : ["threads.create", { input }];
    await run(type, params, { pendingUserId, text, attachments, quote });
  }

  async function retryLast() {
    const userMessageId = messages.lastUserMessageId();
    if (turn || opening || !threadId || !userMessageId) {
      return;
    }
    // The server drops everything after that message and answers it again.
    messages.removeAfter(userMessageId);
    await run("threads.retry_after_item", { thread_id: threadId, item_id: userMessageId }, {});
  }

  // "Continue" under a cut answer: the message it answers is answered again from there.
  async function continueFrom(answerId) {
    const userMessageId = messages.userMessageBefore(answerId);
    if (turn || opening || !threadId || !userMessageId) {
      return;
    }
    stoppedIds.delete(answerId);
    messages.removeAfter(userMessageId);
    await run("threads.retry_after_item", { thread_id: threadId, item_id: userMessageId }, {});
  }

  // A sent message edited: the server keeps the new text, then answers it again (the
  // answers after it are replaced).
  async function edit(itemId, text) {
    if (turn || opening || !threadId) {
      throw new Error(gettext("Wait for the answer to finish, or stop it, before editing."));
    }
    const answer = await protocol.rest("POST", clientUrl("edit", threadId, itemId), { text });
    messages.removeAfter(itemId);
    messages.upsert(answer.item);
    await run("threads.retry_after_item", { thread_id: threadId, item_id: itemId }, {});
  }

  // A widget's action: the server's (threads.custom_action, streamed, or
  // threads.sync_custom_action, answered with the updated item) or the page's (handler
  // "client": a `chat:widget-action` event on window, for the page's client tools). A
  // form's values go into the payload by field name.
  async function widgetAction(itemId, action, values = {}, { busy = () => {} } = {}) {
    const payload = mergePayload(action.payload, values);
    if (action.handler === "client") {
      const clientAction = { ...action, payload };
      window.dispatchEvent(new CustomEvent("chat:widget-action", { detail: { itemId, action: clientAction } }));
      await page.widgets.onAction(clientAction, { id: itemId });
      return;
    }
    if (!threadId || turn || opening) {
      return;
    }
    const params = { thread_id: threadId, item_id: itemId, action: { type: action.type, payload } };
    const shows = action.loadingBehavior !== "none";
    if (shows) {
      busy(true);
    }
    try {
      if (action.streaming === false) {
        const answer = await protocol.call("threads.sync_custom_action", params);
        if (answer?.updated_item) {
          messages.upsert(answer.updated_item);
        }
      } else {
        await run("threads.custom_action", params, {});
      }
    } catch (error) {
      messages.showError(readable(error));
    } finally {
      if (shows) {
        busy(false);
      }
    }
  }

  function startTurn(current) {
    turn = current;
    composer.setStreaming(true);
    messages.setStreaming(true);
  }

  function endTurn(current) {
    if (turn !== current) {
      return;
    }
    turn = null;
    composer.setStreaming(false);
    messages.setStreaming(false);
  }

  async function run(type, params, { pendingUserId = null, text = "", attachments = [], quote = "" }) {
    const mine = generation;
    const current = {
      kind: "send",
      controller: new AbortController(),
      threadId,
      pendingUserId,
      userStored: !pendingUserId,
    };
    startTurn(current);
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
        failed(error, current, text, attachments, quote);
      }
    } finally {
      endTurn(current);
    }
    if (mine === generation) {
      if (outcome === "complete") {
        afterStream(current);
      }
      updateStart();
      composer.focus();
    }
  }

  // The stream ended with answers still unfinished: the answer was stopped elsewhere (or
  // its server went away). Show what the server kept.
  function afterStream(current) {
    const cut = messages.busyIds();
    cut.forEach((itemId) => messages.setBusy(itemId, false));
    if (cut.length && !current.stopSent) {
      refreshThread({ cut });
    }
    const call = current.clientToolCall;
    if (call && !current.stopSent) {
      current.clientToolCall = null;
      answerClientTool(call, current.threadId);
    }
  }

  // The stream ended on a client tool call: the page runs the tool, and its result goes
  // back to the server, which answers on (threads.add_client_tool_output, streamed).
  async function answerClientTool(call, callThreadId) {
    const mine = generation;
    messages.showStatus(gettext("Working in your browser…"));
    const result = await page.onClientTool({ name: call.name, params: call.arguments ?? {} });
    if (mine !== generation || turn || !callThreadId) {
      return;
    }
    await run("threads.add_client_tool_output", { thread_id: callThreadId, result }, {});
  }

  // The stop button: the server stops the answer (wherever it runs) and keeps what it had;
  // this tab stops reading at once and shows the kept answer when the server confirms.
  function stop() {
    const current = turn;
    if (!current || current.stopRequested) {
      return;
    }
    current.stopRequested = true;
    composer.setCancellable(false);
    stopOnceNamed(current);
  }

  // threads.create names its thread in its first event; a stop comes after that (the stop
  // button waits for the stream's options), but a stop needs the name to be sent.
  function stopOnceNamed(current) {
    if (!current.stopRequested || current.stopSent || !current.threadId) {
      return;
    }
    current.stopSent = true;
    const stoppedId = current.threadId;
    const mine = generation;
    const cut = messages.busyIds();
    current.controller.abort();
    cut.forEach((itemId) => messages.setBusy(itemId, false));
    const confirm = () =>
      protocol
        .stopTurn(stoppedId)
        .then(() => {
          if (mine !== generation) {
            return;
          }
          if (turn || opening) {
            cut.forEach((itemId) => {
              stoppedIds.add(itemId);
              messages.markStopped(itemId);
            });
          } else {
            refreshThread({ cut, stopped: true });
          }
        })
        .catch((error) => {
          if (mine === generation) {
            messages.showError(`${gettext("The answer could not be stopped.")} ${readable(error)}`, { retry: confirm });
          }
        });
    confirm();
  }

  function failed(error, current, text, attachments, quote = "") {
    messages.busyIds().forEach((itemId) => messages.setBusy(itemId, false));
    if (!current.userStored) {
      // The server never kept the message: give it back to the composer to send again.
      messages.remove(current.pendingUserId);
      composer.restore(text, attachments, quote);
      updateStart();
      messages.showError(`${gettext("Your message was not sent.")} ${readable(error)}`);
      return;
    }
    lost(error, current);
  }

  // A stream broke after the server had the message. A lost connection loses nothing but
  // the view: the answer goes on on the server, so read the thread again and resume it (by
  // itself once in a while, else when the user asks).
  function lost(error, current) {
    const lostId = current.threadId;
    if (error?.lost && lostId && lostId === threadId) {
      ownTurns.clear();
      const now = performance.now();
      if (now - lastReconnect > RECONNECT_PAUSE_MS) {
        lastReconnect = now;
        openThread(lostId);
      } else {
        messages.showError(readable(error), { retry: () => openThread(lostId), retryLabel: gettext("Reconnect") });
      }
      return;
    }
    messages.showError(readable(error), error.retryable && !error.lost ? { retry: retryLast } : {});
  }

  function handle(event, current) {
    switch (event.type) {
      case "thread.created":
        current.threadId = event.thread.id;
        threadId = event.thread.id;
        rememberThread(userId, threadId);
        if (event.thread.title) {
          view.setTitle(event.thread.title);
        }
        stopOnceNamed(current);
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
        if (event.item.type === "client_tool_call" && event.item.status === "pending") {
          current.clientToolCall = event.item;
        }
        break;
      case "client_effect":
        page.onEffect(event.name, event.data);
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
          event.message || gettext("Something went wrong while answering."),
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

  // Dictation: the recording (base64) to text, by the server (input.transcribe).
  async function transcribe(audioBase64, mimeType) {
    const answer = await protocol.call("input.transcribe", { audio_base64: audioBase64, mime_type: mimeType });
    return answer?.text ?? "";
  }

  async function clearFeedback(itemId) {
    await protocol.rest("DELETE", clientUrl("feedback", threadId, itemId));
  }

  // --- live sync: the user's other tabs and devices ---------------------------------------
  function onLive(message) {
    switch (message.type) {
      case "thread.created":
        threads?.add({ id: message.thread_id, title: message.title, created_at: new Date().toISOString() });
        break;
      case "thread.updated":
        threads?.setTitle(message.thread_id, message.title);
        if (message.thread_id === threadId) {
          view.setTitle(message.title);
        }
        break;
      case "thread.deleted":
        threads?.remove(message.thread_id);
        if (message.thread_id === threadId) {
          // Gone (deleted in another tab, or here): back to the start; the history stays
          // if it is shown.
          leftDeleted = threadId;
          newConversation({ show: false });
        }
        break;
      case "turn.started":
        if (turn && (turn.threadId === message.thread_id || (turn.kind === "send" && !turn.threadId))) {
          ownTurns.add(message.turn_id); // this tab's own answer, or the one it follows
        } else if (message.thread_id === threadId && !turn) {
          // Asked in another tab (or device): follow it here as it grows.
          ownTurns.add(message.turn_id);
          showThread(threadId);
        }
        break;
      case "turn.finished":
        if (ownTurns.delete(message.turn_id)) {
          break; // its stream shows how it ended
        }
        if (message.thread_id === threadId && !(turn && turn.threadId === threadId)) {
          refreshThread({ stopped: message.state === "stopped" });
        }
        break;
      case "live.ready":
        if (message.reconnected) {
          // Notices may have been missed while the connection was down: look again.
          ownTurns.clear();
          if (threadId && !turn && !opening) {
            showThread(threadId);
          }
          threads?.reload();
        }
        break;
      default:
        break;
    }
  }

  // --- the client interface --------------------------------------------------------------
  return {
    mount(container) {
      updateStart();
      container.replaceChildren(view.root);
      live?.subscribe(onLive);
      if (threadId) {
        openThread(threadId);
      }
    },
    applyTheme() {
      view.applyTheme(theme.current());
    },
    /** "Ask AI": `text` quoted in the composer, in this conversation or a new one. */
    async quote(text, { newThread = false } = {}) {
      if (newThread) {
        newConversation();
      }
      view.showConversation();
      composer.setQuote(text);
      composer.focus();
    },
    focus() {
      composer.focus();
    },
  };
}

function mergePayload(payload, values) {
  if (!values || Object.keys(values).length === 0) {
    return payload ?? null;
  }
  return payload && typeof payload === "object" && !Array.isArray(payload) ? { ...payload, ...values } : { ...values };
}

// A reading of a thread that another one overtook.
class Superseded extends Error {}

function readable(error) {
  if (error?.name === "ChatRequestError" || error?.name === "SessionEndedError") {
    return error.message;
  }
  return describeChatError(error);
}
