// The widget gallery page (/chat/widgets/, staff or DEBUG): every widget the server built
// from the SDK's models, drawn by widgets.js. Actions are listed on the page instead of
// being sent; `window.__gallery.update(index, event)` applies a widget update (streamed
// text, a component, the root) to the index-th widget, for the browser tests.

import { h } from "./dom.js";
import { renderWidget } from "./widgets.js";

const data = JSON.parse(document.getElementById("widget-gallery").textContent);
const container = document.querySelector("[data-gallery]");
const log = document.getElementById("widget-actions");
const rendered = data.map(({ title, widget }, index) => {
  const shown = renderWidget(widget, {
    onAction(action, { values }) {
      const record = { index, type: action.type, payload: action.payload ?? null, values, streaming: action.streaming !== false, handler: action.handler ?? "server" };
      log.append(h("li", { "data-action": JSON.stringify(record) }, `${action.type} ${JSON.stringify(values)}`));
    },
  });
  container.append(h("section", { class: "w-gallery-item" }, h("h2", {}, title), shown.element));
  return shown;
});

window.__gallery = {
  update: (index, event) => rendered[index].update(event),
  actions: () => [...log.children].map((item) => JSON.parse(item.dataset.action)),
};
document.documentElement.dataset.galleryReady = "true";
