// Entry point on every page: the theme toggle for everyone, and for logged-in users the
// chat (launcher, panel, tokens, page context, Ask AI). Each job lives in its own module.

import { createAllowance } from "./allowance.js";
import { createChatFetch } from "./chat-fetch.js";
import { chooseClient, loadClientScript } from "./choose-client.js";
import { readChatConfig } from "./config.js";
import { createNotice } from "./notice.js";
import { createPageContext } from "./page-context.js";
import { createPanel } from "./panel.js";
import { initAskAI } from "./selection.js";
import { initTheme } from "../site/theme.js";
import { createTokenSource } from "./tokens.js";
import { createLive } from "./live.js";
import { createTurnApi } from "./turns.js";

const theme = initTheme(document.getElementById("theme-toggle"));
const config = readChatConfig();
if (config) {
  startChat(config);
}

function startChat(config) {
  const panelElement = document.getElementById("chat-panel");
  const launcher = document.getElementById("chat-launcher");
  if (!panelElement || !launcher) {
    return;
  }
  // Start fetching the widget now, so the first opening does not wait for the network
  // (unless the site always uses its built-in client: then nothing is fetched).
  const scriptLoad = loadClientScript(config);
  const pageContext = createPageContext({ limits: config.pageLimits });
  const tokens = createTokenSource({
    url: config.tokenUrl,
    csrfToken: config.csrfToken,
    csrfCookieName: config.csrfCookieName,
    userId: config.userId,
  });
  const chatFetch = createChatFetch({ tokens, pageContext });
  // Answers run on the server: stopped and resumed through these endpoints.
  const turns = createTurnApi({ config, chatFetch });
  const notice = createNotice(panelElement.querySelector("[data-chat-notice]"));
  const body = panelElement.querySelector("[data-chat-body]");

  let client = null;
  let live = null;
  let allowance = null;
  const allowanceElement = panelElement.querySelector("[data-chat-allowance]");
  const ensureClient = () => {
    // Live sync with the user's other tabs, once the chat is first opened on this page.
    live ??= config.liveUrl ? createLive({ url: config.liveUrl, tokens }) : null;
    if (config.showAllowance && allowanceElement) {
      allowance ??= createAllowance({ url: config.limitsUrl, chatFetch, element: allowanceElement, live });
      allowance.refresh();
    }
    client ??= chooseClient({ config, scriptLoad, chatFetch, turns, live, theme, notice }).then((chosen) => {
      chosen.mount(body);
      return chosen;
    });
    return client;
  };

  const panel = createPanel({
    launcher,
    panel: panelElement,
    closeButton: panelElement.querySelector("[data-chat-close]"),
    // Per user, like the thread: another user of this browser starts with it closed. The
    // full page never touches it (it is always open).
    storageKey: panelElement.hasAttribute("data-chat-page") ? null : `chat.panel.${config.userId}`,
    onOpen: ({ focus }) =>
      ensureClient().then((chosen) => {
        if (focus) {
          chosen.focus();
        }
      }),
  });

  theme.onChange(() => client?.then((chosen) => chosen.applyTheme()));

  const content = document.getElementById("content");
  const askButton = document.getElementById("chat-ask");
  if (content && askButton) {
    initAskAI({
      root: content,
      button: askButton,
      onAsk: (text, { newThread = false } = {}) => {
        pageContext.setSelection(text);
        panel.open({ focus: false });
        ensureClient()
          .then((chosen) => chosen.quote(text, { newThread }))
          .catch((error) => console.error("Could not put the selection into the chat", error));
      },
    });
  }

  if (panelElement.hasAttribute("data-chat-page")) {
    // The full-page chat (/chat/): always open, the same client and threads as the panel.
    panel.open({ focus: true });
  } else {
    panel.restore();
  }
}
