// The built-in client's screen: a toolbar (history, title, new conversation), the
// conversation (start screen, messages, composer), the history, and the one-line notice
// saying why this is not ChatKit. This module builds the DOM and wires its events to the
// controller's actions; what is shown when is the controller's business (controller.js).

import { createComposer } from "./composer.js";
import { readItem, writeItem } from "../../site/storage.js";
import { h, icon, iconButton } from "./dom.js";
import { gettext } from "../i18n.js";
import { createMessageList } from "./messages.js";

const NEAR_TOP_PX = 120;
// Scrolled up further than this from the newest message: "Jump to latest" shows.
const JUMP_FROM_PX = 240;
// The fallback notice, once dismissed, stays dismissed for the session (every page).
const NOTICE_DISMISSED_KEY = "chat.fallback-notice.dismissed";

let instances = 0;

/**
 * The client's DOM. `options`: ChatKit's options from the page config; `themeName`: the
 * theme to start in; `fallbackReason`: why ChatKit did not load ("" when it was not
 * tried); `threads`: the history list (thread-list.js), null when history is off;
 * `attachmentOptions` and `uploader`: for the composer; `attachmentUrl(id)`: where a sent
 * file is linked; `hiddenItemTypes`: items never shown; `actions`: the controller's
 * { send({ text, attachments }), stop(), retry(), feedback(itemId, kind),
 * newConversation(), loadOlder() }.
 * Returns { root, messages, composer, setTitle(text), setStartShown(shown),
 * showConversation(focus), needsMoreAbove(), applyTheme(themeName) }.
 */
export function createView({
  options,
  themeName,
  fallbackReason,
  threads,
  attachmentOptions,
  uploader,
  attachmentUrl,
  hiddenItemTypes,
  actions,
  messageMaxBytes = 0,
  fullPageUrl = "",
  mentions = null,
}) {
  const id = `bc-${(instances += 1)}`;
  const NEW_TITLE = gettext("New conversation");
  // On the full-page chat itself the control leads back to where the user came from.
  const onFullPage = Boolean(document.querySelector("[data-chat-page]"));

  const title = h("h3", { class: "bc-title", id: `${id}-title` }, NEW_TITLE);
  const historyButton = threads
    ? iconButton("history", gettext("Conversation history"), { "aria-expanded": "false", "aria-controls": `${id}-history` })
    : null;
  const newButton = iconButton("plus", NEW_TITLE);
  const expand = fullPageUrl && !onFullPage ? expandLink(fullPageUrl) : null;
  const toolbar = h("div", { class: "bc-toolbar" }, historyButton, title, newButton, expand);

  const start = h("div", { class: "bc-start", hidden: true }, startScreen(options.startScreen ?? {}, actions.send));
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
    onSend: actions.send,
    onStop: actions.stop,
    maxBytes: messageMaxBytes,
    models: options.composer?.models ?? [],
    tools: options.composer?.tools ?? [],
    onTranscribe: options.composer?.dictation?.enabled ? actions.transcribe : null,
    mentions,
  });
  const jump = h(
    "button",
    { type: "button", class: "bc-jump", hidden: true },
    icon("down", 16),
    gettext("Jump to latest"),
  );
  const conversation = h("div", { class: "bc-conversation" }, scroller, jump, composer.element);

  const historyBack = h(
    "button",
    { type: "button", class: "bc-text-button bc-history-back" },
    icon("back", 16),
    gettext("Back to the conversation"),
  );
  const history = h(
    "section",
    { class: "bc-history", id: `${id}-history`, hidden: true, "aria-label": gettext("Conversation history") },
    h("div", { class: "bc-history-header" }, historyBack),
    threads?.element,
  );
  const root = h(
    "div",
    { class: "bc", "data-builtin-client": "", "data-theme": themeName },
    fallbackReason && readItem(NOTICE_DISMISSED_KEY, window.sessionStorage) !== "yes" ? fallbackNotice(fallbackReason) : null,
    toolbar,
    h("div", { class: "bc-views" }, conversation, history),
  );

  const messages = createMessageList({
    scroller,
    list: log,
    allow: {
      feedback: options.threadItemActions?.feedback !== false,
      retry: options.threadItemActions?.retry !== false,
      edit: Boolean(actions.edit),
    },
    actions: {
      feedback: actions.feedback,
      clearFeedback: actions.clearFeedback,
      retry: actions.retry,
      continueFrom: actions.continueFrom,
      edit: actions.edit,
      widgetAction: actions.widgetAction,
    },
    attachmentUrl,
    hiddenTypes: hiddenItemTypes,
  });

  historyButton?.addEventListener("click", () => (history.hidden ? showHistory() : showConversation(true)));
  historyBack.addEventListener("click", () => showConversation(true));
  newButton.addEventListener("click", () => {
    actions.newConversation();
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
      actions.loadOlder();
    }
    updateJump();
  }, { passive: true });
  new ResizeObserver(updateJump).observe(log);
  jump.addEventListener("click", () => {
    messages.scroll.toEnd();
    updateJump();
    composer.focus();
  });

  function updateJump() {
    jump.hidden = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < JUMP_FROM_PX;
  }
  if (attachmentOptions) {
    wireDrop(root, (files) => {
      showConversation();
      composer.addFiles(files);
    });
  }

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

  return {
    root,
    messages,
    composer,
    showConversation,
    setTitle(text) {
      title.textContent = text || NEW_TITLE;
    },
    /** The greeting and suggestions, for a conversation with nothing in it yet. */
    setStartShown(shown) {
      const appearing = shown && start.hidden;
      start.hidden = !shown;
      if (appearing) {
        // A new conversation starts at its greeting, however many suggestions follow it
        // (pinned to the end, the view would show the last suggestions, the greeting cut).
        messages.scroll.toStart();
      }
    },
    /** True when the messages do not fill the view: there is nothing to scroll up. */
    needsMoreAbove() {
      return scroller.scrollHeight <= scroller.clientHeight + NEAR_TOP_PX;
    },
    applyTheme(name) {
      root.dataset.theme = name;
    },
  };
}

// The greeting and the suggested prompts; a prompt is sent as it is clicked.
function startScreen(screen, send) {
  const prompts = (screen.prompts ?? []).map((prompt) => {
    const button = h("button", { type: "button", class: "bc-prompt" }, prompt.label || prompt.prompt);
    button.addEventListener("click", () => send({ text: prompt.prompt || prompt.label, attachments: [] }));
    return h("li", {}, button);
  });
  return [
    h("p", { class: "bc-greeting" }, screen.greeting || gettext("How can I help?")),
    prompts.length ? h("ul", { class: "bc-prompts", "aria-label": gettext("Suggestions") }, prompts) : null,
  ];
}

// Says, once, why this is not the ChatKit widget; the details are one click away.
function fallbackNotice(reason) {
  const dismiss = iconButton("close", gettext("Dismiss this message"), { class: "bc-icon-button bc-fallback-dismiss" });
  const notice = h(
    "div",
    { class: "bc-fallback", role: "status" },
    h("p", {}, gettext("The chat widget could not be loaded, so this is the site's built-in chat.")),
    h("details", {}, h("summary", {}, gettext("Why?")), h("p", {}, `${capitalise(reason)}.`)),
    dismiss,
  );
  dismiss.addEventListener("click", () => {
    writeItem(NOTICE_DISMISSED_KEY, "yes", window.sessionStorage);
    notice.remove();
  });
  return notice;
}

// "Expand": the same chat, full page, at /chat/ (the same threads: it opens the same one).
function expandLink(url) {
  const label = gettext("Open the chat full page");
  return h("a", { class: "bc-icon-button bc-expand", href: url, "aria-label": label, title: label }, icon("expand"));
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
