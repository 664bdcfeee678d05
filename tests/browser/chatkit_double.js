// A test double of OpenAI's <openai-chatkit> web component, served in place of the CDN
// script by tests/browser/conftest.py. It records what the page gives it and makes REAL
// ChatKit protocol calls through the page's `options.api.fetch`, so a test exercises the
// site's token handling, page context and streaming endpoint end to end.
//
// window.__chatkit exposes the records and helpers that tests call with page.evaluate.
(() => {
  const record = {
    options: [], // every object given to setOptions, in order
    composer: [], // every text given to setComposerValue
    mounts: [], // size of the element each time it was attached to the page
    focusCount: 0,
    threadId: null, // the thread the double shows (initialThread, setThreadId, createThread)
    updates: [], // every fetchUpdates() call: { threadId, at (ms since the page started) }
    shown: [], // the items the last fetchUpdates() read: [{ type, text }]
    stream: null, // the streaming request started by startStream(), while it runs
    // Abort that request when the page is being left ("beforeunload" or "pagehide"), as a
    // widget tearing itself down might; null: never.
    abortOnLeave: null,
    clientTools: [], // every onClientTool call: { name, params, result }
    effects: [], // every client_effect event the double passed on as chatkit.effect
  };
  window.__chatkit = record;

  const plain = (value) => JSON.parse(JSON.stringify(value ?? null));
  const element = () => document.querySelector("openai-chatkit");
  const latest = () => record.options.at(-1);

  class ChatKitDouble extends HTMLElement {
    constructor() {
      super();
      this.attachShadow({ mode: "open" });
    }

    connectedCallback() {
      const rect = this.getBoundingClientRect();
      // getClientRects() is empty inside a display:none subtree.
      record.mounts.push({
        width: rect.width,
        height: rect.height,
        rendered: this.getClientRects().length > 0,
      });
      this.render();
    }

    setOptions(options) {
      record.options.push(options);
      if (record.options.length === 1) {
        record.threadId = options.initialThread ?? null;
      }
      this.render();
      setTimeout(() => this.dispatchEvent(new CustomEvent("chatkit.ready")), 0);
    }

    async setComposerValue({ text }) {
      record.composer.push(text);
      this.render();
    }

    async focusComposer() {
      record.focusCount += 1;
    }

    async setThreadId(threadId) {
      record.threadId = threadId;
      record.shown = [];
      this.render();
      this.dispatchEvent(new CustomEvent("chatkit.thread.change", { detail: { threadId } }));
    }

    // Like the widget: re-read the thread from the server and show it.
    async fetchUpdates() {
      const threadId = record.threadId;
      record.updates.push({ threadId, at: performance.now() });
      if (!threadId) {
        return;
      }
      const { page } = await record.listItems(threadId);
      if (record.threadId === threadId) {
        record.shown = page.data.map((item) => ({
          type: item.type,
          text: (item.content ?? []).map((part) => part.text ?? "").join(""),
        }));
        this.render();
      }
    }

    // A rough likeness of the widget, so screenshots show a readable panel in both themes.
    render() {
      const options = latest();
      if (!options || !this.shadowRoot) {
        return;
      }
      const dark = (options.theme?.colorScheme ?? options.theme) === "dark";
      const colors = dark
        ? { bg: "#1f2329", fg: "#eceef1", chip: "#2c323a", border: "#3a414b" }
        : { bg: "#ffffff", fg: "#1b1f24", chip: "#f1f3f5", border: "#d5d9df" };
      const prompts = (options.startScreen?.prompts ?? [])
        .map((prompt) => `<li>${escapeHtml(prompt.label)}</li>`)
        .join("");
      const draft = record.composer.at(-1) ?? "";
      const shown = record.shown
        .filter((item) => item.type === "user_message" || item.type === "assistant_message")
        .map((item) => `<p class="message ${item.type}">${escapeHtml(item.text)}</p>`)
        .join("");
      this.shadowRoot.innerHTML = `
        <style>
          :host { display: block; font-family: system-ui, sans-serif; }
          .frame { box-sizing: border-box; height: 100%; display: flex; flex-direction: column;
                   background: ${colors.bg}; color: ${colors.fg}; padding: 1rem; gap: .75rem; }
          h3 { margin: auto 0 0; font-size: 1.25rem; }
          .messages { margin-top: auto; display: flex; flex-direction: column; gap: .5rem; overflow: auto; }
          .message { margin: 0; padding: .45rem .7rem; border-radius: .75rem; }
          .user_message { align-self: flex-end; background: ${colors.chip}; }
          ul { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: .4rem; }
          li { background: ${colors.chip}; border-radius: .5rem; padding: .45rem .7rem; }
          .composer { border: 1px solid ${colors.border}; border-radius: 1.25rem; padding: .6rem .9rem;
                      white-space: pre-wrap; opacity: ${draft ? 1 : 0.65}; }
        </style>
        <div class="frame" data-color-scheme="${dark ? "dark" : "light"}">
          ${shown ? `<div class="messages">${shown}</div>` : `<h3>${escapeHtml(options.startScreen?.greeting ?? "")}</h3>
          <ul>${prompts}</ul>`}
          <div class="composer">${escapeHtml(draft || options.composer?.placeholder || "")}</div>
        </div>`;
    }
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  // --- Helpers for tests ---------------------------------------------------------------

  /** Which of the page's protocol callbacks an options object carries. */
  const callbacks = (options) => ({
    hasFetch: typeof options.api?.fetch === "function",
    hasClientTool: typeof options.onClientTool === "function",
    hasOnAction: typeof options.widgets?.onAction === "function",
    hasTagSearch: typeof options.entities?.onTagSearch === "function",
    hasPreview: typeof options.entities?.onRequestPreview === "function",
  });

  /** The options of the last setOptions call as JSON, plus which callbacks it has. */
  record.lastOptions = () => {
    const options = latest();
    return options ? { ...plain(options), ...callbacks(options) } : null;
  };
  record.allOptions = () => record.options.map((options) => ({
    ...plain(options),
    ...callbacks(options),
  }));

  /** POST a ChatKit request through the page's api.fetch; read the body as it streams. */
  record.request = async (body) => {
    const { api } = latest();
    const response = await api.fetch(api.url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const chunks = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(decoder.decode(value, { stream: true }));
    }
    const text = chunks.join("");
    const events = response.headers.get("Content-Type")?.startsWith("text/event-stream")
      ? parseEvents(text)
      : [];
    const result = {
      status: response.status,
      contentType: response.headers.get("Content-Type"),
      chunks: chunks.length,
      text,
      events,
    };
    result.followUp = await record.handleEvents(events, body.params?.thread_id);
    return result;
  };

  /**
   * Do what the widget does with a stream's protocol events: pass client effects on as
   * `chatkit.effect` events, and answer a pending client tool call through the page's
   * onClientTool, sending its result (threads.add_client_tool_output). Returns the
   * follow-up request's result, if there was one.
   */
  record.handleEvents = async (events, threadId) => {
    let followUp = null;
    for (const event of events) {
      if (event.type === "thread.created") {
        threadId = event.thread.id;
      }
      if (event.type === "client_effect") {
        record.effects.push({ name: event.name, data: event.data ?? {} });
        element().dispatchEvent(
          new CustomEvent("chatkit.effect", { detail: { name: event.name, data: event.data } })
        );
      }
      const item = event.type === "thread.item.done" ? event.item : null;
      if (item?.type === "client_tool_call" && item.status === "pending") {
        const { onClientTool } = latest();
        const result = await onClientTool({ name: item.name, params: item.arguments });
        record.clientTools.push({ name: item.name, params: item.arguments, result: plain(result) });
        followUp = await record.request({
          type: "threads.add_client_tool_output",
          params: { thread_id: threadId, result },
        });
      }
    }
    return followUp;
  };

  /**
   * A click on a widget button with `action` (its ActionConfig) in the widget item `item`
   * ({ id, widget }), as the widget handles it: "client" actions go to the page's
   * widgets.onAction; server actions to threads.custom_action (streamed) or, with
   * `streaming: false`, threads.sync_custom_action. Returns the request's result.
   */
  record.clickAction = async (action, item, threadId = record.threadId) => {
    const sent = { type: action.type, payload: action.payload };
    if (action.handler === "client") {
      await latest().widgets.onAction(sent, item);
      return { handledBy: "client" };
    }
    const type = action.streaming === false ? "threads.sync_custom_action" : "threads.custom_action";
    const result = await record.request({
      type,
      params: { thread_id: threadId, item_id: item.id, action: sent },
    });
    result.handledBy = type;
    if (type === "threads.sync_custom_action") {
      result.json = JSON.parse(result.text);
    }
    return result;
  };

  /** The composer's @-mention search, through the page's entities.onTagSearch. */
  record.searchTags = (query) => latest().entities.onTagSearch(query);

  /** An entity's preview, through the page's entities.onRequestPreview. */
  record.previewEntity = (entity) => latest().entities.onRequestPreview(entity);

  /**
   * Start a streaming request as the widget sends a message (threads.add_user_message to
   * `threadId`, or threads.create), with an AbortSignal like the widget's stop button
   * aborts. record.stream = { events, status, error, done, startedAt, endedAt } follows it
   * as it arrives (times as performance.now());
   * abortStream() aborts it.
   */
  record.startStream = (text, threadId = null) => {
    const { api } = latest();
    const controller = new AbortController();
    const input = { content: [{ type: "input_text", text }], attachments: [], inference_options: {} };
    const body = threadId
      ? { type: "threads.add_user_message", params: { thread_id: threadId, input } }
      : { type: "threads.create", params: { input } };
    const stream = {
      events: [],
      status: null,
      error: null,
      done: false,
      controller,
      startedAt: performance.now(),
      endedAt: null,
    };
    record.stream = stream;
    (async () => {
      try {
        const response = await api.fetch(api.url, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
          signal: controller.signal,
        });
        stream.status = response.status;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          const lines = buffer.split("\n");
          buffer = lines.pop();
          for (const event of parseEvents(lines.join("\n"))) {
            stream.events.push(event);
            if (event.type === "thread.created") {
              record.threadId = event.thread.id;
              record.emit("chatkit.thread.change", { threadId: event.thread.id });
            }
          }
        }
      } catch (error) {
        stream.error = error.name;
      } finally {
        stream.done = true;
        stream.endedAt = performance.now();
      }
    })();
    return true;
  };

  /** Abort the request startStream() started, as the widget's stop button does. */
  record.abortStream = () => {
    record.stream?.controller.abort();
  };

  /** The text the streamed answer has shown so far. */
  record.streamedText = () =>
    (record.stream?.events ?? [])
      .filter((event) => event.type === "thread.item.updated" && event.update?.delta)
      .map((event) => event.update.delta)
      .join("");

  for (const event of ["beforeunload", "pagehide"]) {
    window.addEventListener(event, () => {
      if (record.abortOnLeave === event) {
        record.abortStream();
      }
    });
  }

  /** threads.create with `text`, as the widget would send it; announces the new thread. */
  record.createThread = async (text) => {
    const result = await record.request({
      type: "threads.create",
      params: {
        input: { content: [{ type: "input_text", text }], attachments: [], inference_options: {} },
      },
    });
    const created = result.events.find((event) => event.type === "thread.created");
    result.threadId = created?.thread?.id ?? null;
    if (result.threadId) {
      record.threadId = result.threadId;
      record.emit("chatkit.thread.change", { threadId: result.threadId });
    }
    return result;
  };

  /** items.list of a thread: the decoded JSON page. */
  record.listItems = async (threadId) => {
    const result = await record.request({
      type: "items.list",
      params: { thread_id: threadId, limit: 20, order: "asc" },
    });
    return { status: result.status, page: JSON.parse(result.text) };
  };

  /**
   * Attach a file the way the composer does with the two-phase strategy: attachments.create
   * through api.fetch, then the bytes to the returned upload URL, also through api.fetch
   * (so the upload carries the page's Bearer token).
   */
  record.upload = async (name, type, text) => {
    const { api } = latest();
    const created = await api.fetch(api.url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        type: "attachments.create",
        params: { name, size: new Blob([text]).size, mime_type: type },
      }),
    });
    const attachment = await created.json();
    const form = new FormData();
    form.append("file", new File([text], name, { type }));
    const uploaded = await api.fetch(attachment.upload_descriptor.url, {
      method: attachment.upload_descriptor.method,
      headers: attachment.upload_descriptor.headers ?? {},
      body: form,
    });
    return {
      createStatus: created.status,
      uploadStatus: uploaded.status,
      uploadUrl: attachment.upload_descriptor.url,
      attachment: await uploaded.json(),
    };
  };

  /** Dispatch a ChatKit event on the element, as the real widget would. */
  record.emit = (name, detail) => {
    element().dispatchEvent(new CustomEvent(name, { detail }));
  };

  /** Report an error the way the widget does (chatkit.error with detail.error). */
  record.fail = (message) => record.emit("chatkit.error", { error: new Error(message) });

  function parseEvents(text) {
    return text
      .split("\n")
      .filter((line) => line.startsWith("data: "))
      .map((line) => JSON.parse(line.slice("data: ".length)));
  }

  customElements.define("openai-chatkit", ChatKitDouble);
})();
