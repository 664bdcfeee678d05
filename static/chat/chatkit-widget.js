// The OpenAI ChatKit web component as the panel's chat client.
// The element is created when the panel first opens (a widget initialised inside a
// hidden container measures zero and stays broken), and every change hands it the FULL
// option set, because setOptions replaces the options instead of merging them.

import { CHATKIT_TAG } from "./cdn-loader.js";
import { describeChatError } from "./notice.js";
import { quoteText } from "./selection.js";
import { rememberedThread, rememberThread } from "./thread-memory.js";

/** ChatKit's complete options: the server's part plus what only the page knows. */
export function chatKitOptions({ config, chatFetch, colorScheme, threadId }) {
  // A fresh copy each time: ChatKit keeps what it is given, later calls must not alter it.
  const base = structuredClone(config.chatkit);
  return {
    ...base,
    api: { ...base.api, fetch: chatFetch },
    theme: { colorScheme },
    initialThread: threadId,
  };
}

/**
 * A chat client backed by <openai-chatkit>.
 * Returns { mount(container), applyTheme(), quote(text), focus() }.
 */
export function createChatKitClient({ config, chatFetch, theme, notice }) {
  const userId = config.userId;
  let threadId = rememberedThread(userId);
  let element = null;
  let markReady;
  const ready = new Promise((resolve) => {
    markReady = resolve;
  });

  const options = () =>
    chatKitOptions({ config, chatFetch, colorScheme: theme.current(), threadId });

  function listen(chatkit) {
    chatkit.addEventListener("chatkit.ready", () => markReady(), { once: true });
    chatkit.addEventListener("chatkit.thread.change", (event) => {
      threadId = event.detail?.threadId ?? null;
      rememberThread(userId, threadId);
    });
    chatkit.addEventListener("chatkit.error", (event) => {
      const error = event.detail?.error;
      console.error("ChatKit error:", error);
      notice.show(describeChatError(error));
    });
  }

  return {
    mount(container) {
      element = document.createElement(CHATKIT_TAG);
      listen(element);
      element.setOptions(options());
      container.replaceChildren(element);
    },
    applyTheme() {
      element?.setOptions(options());
    },
    async quote(text) {
      await ready;
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
