// The page's side of the ChatKit protocol, in one registry a site extends:
//
//   window.chat.clientTools.name = async (params, page) => result   // tools the agent calls
//                                                                     // in the browser
//   window.chat.effects.name = (data, page) => { ... }               // client effects
//   window.chat.actions.type = async (action, item, page) => { ... } // widget actions with
//                                                                     // handler: "client"
//
// Define `window.chat` before static/chat/main.js runs (or add to it later: the handlers
// are looked up when they are needed); a site's entry wins over a built-in one. `page` is
// { theme, notice, sendAction } for handlers that change the page or answer back.
// The built-ins: the `switch_theme` client tool and the `celebrate` effect, which the
// offline demo uses (chat/assistant/demo_tools.py).

const CELEBRATION_MS = 2_500;

/** The built-in handlers; `page.theme` is static/site/theme.js's theme. */
export const builtIns = {
  clientTools: {
    switch_theme(params, page) {
      const wanted = params?.theme === "dark" ? "dark" : "light";
      page.theme.set(wanted);
      return { theme: page.theme.current() };
    },
  },
  effects: {
    celebrate(data) {
      const banner = document.createElement("div");
      banner.className = "chat-celebration";
      banner.setAttribute("role", "status");
      banner.textContent = typeof data?.message === "string" ? data.message : "🎉";
      document.body.append(banner);
      setTimeout(() => banner.remove(), CELEBRATION_MS);
    },
  },
  actions: {},
};

/** `window.chat`, with the three registries present (a site's own entries kept). */
export function siteRegistry(win = window) {
  win.chat ??= {};
  for (const kind of ["clientTools", "effects", "actions"]) {
    win.chat[kind] ??= {};
  }
  return win.chat;
}

function handlerFor(kind, name, win) {
  const own = siteRegistry(win)[kind];
  if (Object.hasOwn(own, name)) {
    return own[name];
  }
  return Object.hasOwn(builtIns[kind], name) ? builtIns[kind][name] : null;
}

/** A plain object for ChatKit: a tool's result must be a record. */
function asRecord(value) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return value;
  }
  return value === undefined ? {} : { result: value };
}

/**
 * The protocol handlers for the ChatKit widget (and the built-in client), wired to the
 * registry: `onClientTool`, `onEffect(name, data)`, `widgets.onAction`, and `entities`
 * (tag search and previews through the site's endpoints; null when the page config has
 * none). `page`: { theme, notice, sendAction? }.
 */
export function createProtocolHandlers({ config, chatFetch, page, win = window }) {
  siteRegistry(win); // window.chat exists from now on, for the site to add to
  async function onClientTool({ name, params }) {
    const handler = handlerFor("clientTools", name, win);
    if (!handler) {
      return { error: `This page has no client tool named ${name}.` };
    }
    try {
      return asRecord(await handler(params ?? {}, page));
    } catch (error) {
      console.error(`The client tool ${name} failed`, error);
      return { error: `The client tool ${name} failed: ${error?.message ?? error}` };
    }
  }

  function onEffect(name, data) {
    const handler = handlerFor("effects", name, win);
    if (!handler) {
      console.warn(`No handler for the client effect ${name}`);
      return;
    }
    try {
      handler(data ?? {}, page);
    } catch (error) {
      console.error(`The client effect ${name} failed`, error);
    }
  }

  async function onAction(action, item) {
    const handler = handlerFor("actions", action?.type, win);
    if (!handler) {
      console.warn(`No handler for the client action ${action?.type}`);
      return;
    }
    await handler(action, item, page);
  }

  return { onClientTool, onEffect, widgets: { onAction }, entities: entityHandlers(config, chatFetch) };
}

/** ChatKit's `entities` option backed by /chatkit/entities/ (null when mentions are off). */
export function entityHandlers(config, chatFetch) {
  const urls = config.entityUrls;
  if (!urls) {
    return null;
  }
  const get = (url) => chatFetch(url, { method: "GET", headers: { Accept: "application/json" } });
  return {
    async onTagSearch(query) {
      const response = await get(`${urls.search}?${new URLSearchParams({ q: query ?? "" })}`);
      if (!response.ok) {
        return [];
      }
      return (await response.json()).entities ?? [];
    },
    async onRequestPreview(entity) {
      const response = await get(`${urls.preview}?${new URLSearchParams({ id: entity?.id ?? "" })}`);
      if (!response.ok) {
        return { preview: null };
      }
      return { preview: (await response.json()).preview ?? null };
    },
  };
}
