// ChatKit widgets (chatkit.widgets in openai-chatkit 1.6.5) as DOM: every component the
// Python models describe (Card, ListView/ListViewItem, Box/Row/Col, Text/Title/Caption/
// Markdown, Badge, Button, Icon, Image, Divider, Spacer, Form with Input/Textarea/Select/
// Checkbox/RadioGroup/DatePicker/Label, Chart with bar/line/area series, Transition), with
// streamed text (widget.streaming_text.value_delta), component and root updates, and the
// widget's actions handed to `onAction(action, { values })` (`values`: the enclosing form's
// fields, by name). Text goes in as text; Markdown through the same sanitiser as answers;
// colours come from the site's theme (light-dark) so widgets follow light and dark.

import { h } from "./dom.js";
import { gettext } from "../i18n.js";
import { setMarkdown } from "./markdown.js";

const SVG_NS = "http://www.w3.org/2000/svg";

// Spacing and sizes: numbers are steps of 4 px (ChatKit's scale), strings are CSS.
const length = (value) => (typeof value === "number" ? `${value * 4}px` : value);
const pixels = (value) => (typeof value === "number" ? `${value}px` : value);

const TEXT_COLORS = {
  prose: "var(--fg)",
  primary: "var(--fg)",
  emphasis: "var(--fg)",
  secondary: "var(--muted)",
  tertiary: "var(--muted)",
  success: "light-dark(#116329, #7ee2a8)",
  warning: "light-dark(#8a4600, #ffb870)",
  caution: "light-dark(#8a4600, #ffb870)",
  danger: "var(--danger)",
  info: "var(--accent)",
  discovery: "light-dark(#6e3fc9, #c4a6ff)",
};
const CHART_COLORS = {
  blue: "light-dark(#1f5fd6, #7aa7ff)",
  purple: "light-dark(#7c3aed, #c4a6ff)",
  orange: "light-dark(#c2410c, #fdba74)",
  green: "light-dark(#15803d, #86efac)",
  red: "light-dark(#b91c1c, #fca5a5)",
  yellow: "light-dark(#a16207, #fde047)",
  pink: "light-dark(#be185d, #f9a8d4)",
};
const SERIES_ORDER = ["blue", "green", "orange", "purple", "red", "yellow", "pink"];
const BACKGROUNDS = {
  surface: "var(--bg)",
  "surface-secondary": "var(--surface)",
  "surface-tertiary": "var(--surface)",
  "surface-elevated": "var(--bg)",
  "surface-elevated-secondary": "var(--surface)",
};
const RADII = { "2xs": "2px", xs: "4px", sm: "6px", md: "8px", lg: "12px", xl: "16px", "2xl": "20px", "3xl": "24px", "4xl": "32px", full: "9999px", "100%": "100%", none: "0" };
const ALIGN = { start: "flex-start", center: "center", end: "flex-end", baseline: "baseline", stretch: "stretch" };
const JUSTIFY = { start: "flex-start", center: "center", end: "flex-end", between: "space-between", around: "space-around", evenly: "space-evenly", stretch: "stretch" };

/** A colour: a token, a primitive token (`red-500`), a CSS colour, or { light, dark }. */
export function color(value, palette = TEXT_COLORS) {
  if (!value) {
    return "";
  }
  if (typeof value === "object") {
    return `light-dark(${color(value.light, palette)}, ${color(value.dark, palette)})`;
  }
  if (palette[value]) {
    return palette[value];
  }
  const primitive = /^([a-z]+)-(\d{2,3})$/.exec(value);
  if (primitive) {
    return `var(--w-${primitive[1]}-${primitive[2]}, ${primitive[1]})`;
  }
  return CSS.supports("color", value) ? value : "";
}

function spacing(value) {
  if (value === undefined || value === null) {
    return "";
  }
  if (typeof value !== "object") {
    return length(value);
  }
  const side = (name, axis) => length(value[name] ?? value[axis] ?? 0);
  return `${side("top", "y")} ${side("right", "x")} ${side("bottom", "y")} ${side("left", "x")}`;
}

function border(value) {
  if (value === undefined || value === null) {
    return {};
  }
  const one = (b) => (typeof b === "number" ? `${b}px solid var(--border)` : `${b.size}px ${b.style || "solid"} ${color(b.color, { default: "var(--border)", subtle: "var(--border)", strong: "var(--muted)" }) || "var(--border)"}`);
  if (typeof value === "number" || "size" in value) {
    return { border: one(value) };
  }
  const styles = {};
  for (const [name, axis] of [["top", "y"], ["right", "x"], ["bottom", "y"], ["left", "x"]]) {
    const b = value[name] ?? value[axis];
    if (b !== undefined) {
      styles[`border-${name}`] = one(b);
    }
  }
  return styles;
}

function style(element, styles) {
  for (const [name, value] of Object.entries(styles)) {
    if (value !== undefined && value !== null && value !== "") {
      element.style.setProperty(name, String(value));
    }
  }
  return element;
}

// Size properties every sized component shares.
function sizes(c) {
  return {
    width: pixels(c.width ?? c.size),
    height: pixels(c.height ?? c.size),
    "min-width": pixels(c.minWidth ?? c.minSize),
    "min-height": pixels(c.minHeight ?? c.minSize),
    "max-width": pixels(c.maxWidth ?? c.maxSize),
    "max-height": pixels(c.maxHeight ?? c.maxSize),
    "aspect-ratio": c.aspectRatio,
    flex: c.flex,
  };
}

// --- icons: inline SVG, so they render without an emoji or icon font ----------------------
const ICON_PATHS = {
  check: "M9 16.17 4.83 12l-1.42 1.41L9 19 21 7l-1.41-1.41z",
  "check-circle": "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm-2 15-5-5 1.41-1.41L10 14.17l7.59-7.59L19 8z",
  "check-circle-filled": "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm-2 15-5-5 1.41-1.41L10 14.17l7.59-7.59L19 8z",
  "chevron-left": "M15.41 7.41 14 6l-6 6 6 6 1.41-1.41L10.83 12z",
  "chevron-right": "M10 6 8.59 7.41 13.17 12l-4.58 4.59L10 18l6-6z",
  plus: "M11 5h2v6h6v2h-6v6h-2v-6H5v-2h6z",
  star: "m12 17.27 6.18 3.73-1.64-7.03L22 9.24l-7.19-.61L12 2 9.19 8.63 2 9.24l5.46 4.73L5.82 21z",
  "star-filled": "m12 17.27 6.18 3.73-1.64-7.03L22 9.24l-7.19-.61L12 2 9.19 8.63 2 9.24l5.46 4.73L5.82 21z",
  search: "M15.5 14h-.79l-.28-.27a6.5 6.5 0 1 0-.7.7l.27.28v.79l5 4.99L20.49 19zm-6 0a4.5 4.5 0 1 1 0-9 4.5 4.5 0 0 1 0 9z",
  info: "M11 7h2v2h-2zm0 4h2v6h-2zm1-9a10 10 0 1 0 0 20 10 10 0 0 0 0-20z",
  calendar: "M19 4h-1V2h-2v2H8V2H6v2H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2zm0 16H5V10h14z",
  clock: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 11h-5v-2h3V6h2z",
  mail: "M20 4H4a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2zm0 4-8 5-8-5V6l8 5 8-5z",
  phone: "M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z",
  "map-pin": "M12 2a7 7 0 0 0-7 7c0 5.25 7 13 7 13s7-7.75 7-13a7 7 0 0 0-7-7zm0 9.5a2.5 2.5 0 1 1 0-5 2.5 2.5 0 0 1 0 5z",
  globe: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm6.9 6h-2.95a15.7 15.7 0 0 0-1.38-3.56A8 8 0 0 1 18.9 8zM12 4.04c.83 1.2 1.48 2.53 1.91 3.96h-3.82A13.4 13.4 0 0 1 12 4.04zM4.26 14a8 8 0 0 1 0-4h3.38a16.5 16.5 0 0 0 0 4zm.84 2h2.95c.32 1.25.78 2.45 1.38 3.56A8 8 0 0 1 5.1 16zM8.05 8H5.1a8 8 0 0 1 4.33-3.56C8.83 5.55 8.37 6.75 8.05 8zM12 19.96A13.4 13.4 0 0 1 10.09 16h3.82A13.4 13.4 0 0 1 12 19.96zM14.34 14H9.66a14.7 14.7 0 0 1 0-4h4.68a14.7 14.7 0 0 1 0 4zm.25 5.56c.6-1.11 1.06-2.31 1.38-3.56h2.95a8 8 0 0 1-4.33 3.56zM16.36 14a16.5 16.5 0 0 0 0-4h3.38a8 8 0 0 1 0 4z",
  bolt: "M7 2v11h3v9l7-12h-4l4-8z",
  sparkle: "M12 2l2.4 7.6L22 12l-7.6 2.4L12 22l-2.4-7.6L2 12l7.6-2.4z",
  document: "M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zm-1 7V3.5L18.5 9z",
  user: "M12 12a5 5 0 1 0 0-10 5 5 0 0 0 0 10zm0 2c-3.33 0-10 1.67-10 5v3h20v-3c0-3.33-6.67-5-10-5z",
  reload: "M17.65 6.35A7.96 7.96 0 0 0 12 4a8 8 0 1 0 7.73 10h-2.08A6 6 0 1 1 12 6c1.66 0 3.14.69 4.22 1.78L13 11h7V4z",
  "external-link": "M19 19H5V5h7V3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2v-7h-2zM14 3v2h3.59l-9.83 9.83 1.41 1.41L19 6.41V10h2V3z",
  play: "M8 5v14l11-7z",
  settings: "M19.4 13a7.5 7.5 0 0 0 0-2l2.1-1.65-2-3.46-2.49 1a7.3 7.3 0 0 0-1.73-1L15 3h-4l-.38 2.89a7.3 7.3 0 0 0-1.73 1l-2.49-1-2 3.46L6.6 11a7.5 7.5 0 0 0 0 2l-2.1 1.65 2 3.46 2.49-1c.53.41 1.11.75 1.73 1L11 21h4l.38-2.89a7.3 7.3 0 0 0 1.73-1l2.49 1 2-3.46zM13 15.5a3.5 3.5 0 1 1 0-7 3.5 3.5 0 0 1 0 7z",
  chart: "M5 9.2h3V19H5zM10.6 5h2.8v14h-2.8zm5.6 8H19v6h-2.8z",
  lightbulb: "M9 21c0 .55.45 1 1 1h4c.55 0 1-.45 1-1v-1H9zm3-19a7 7 0 0 0-4 12.74V17a1 1 0 0 0 1 1h6a1 1 0 0 0 1-1v-2.26A7 7 0 0 0 12 2z",
  dot: "M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8z",
};
const ICON_ALIASES = { "check-circle-filled": "check-circle", "settings-slider": "settings", analytics: "chart", "circle-question": "info", "book-open": "document", "book-closed": "document", "page-blank": "document", "square-text": "document", profile: "user", "profile-card": "user", name: "user", "sparkle-double": "sparkle", "write": "document", "write-alt": "document", "write-alt2": "document", maps: "map-pin", "dots-horizontal": "dot", "dots-vertical": "dot", "empty-circle": "dot" };
const ICON_SIZES = { xs: 12, sm: 14, md: 16, lg: 20, xl: 24, "2xl": 28, "3xl": 32 };

export function widgetIcon(name, size = "md", label = "") {
  const key = ICON_PATHS[name] ? name : ICON_ALIASES[name] ?? "dot";
  const px = ICON_SIZES[size] ?? 16;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", px);
  svg.setAttribute("height", px);
  svg.setAttribute("class", "w-icon");
  svg.dataset.icon = name;
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  } else {
    svg.setAttribute("aria-hidden", "true");
  }
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", ICON_PATHS[key]);
  svg.append(path);
  return svg;
}

// --- the renderer ---------------------------------------------------------------------------

/**
 * Render the widget root `widget` (a Card, ListView or Basic root). `onAction(action,
 * { values, element })` runs for every action (buttons, list items, forms, controls' change
 * actions, a card's confirm and cancel). Returns { element, update(event) } where `update`
 * applies a thread.item.updated widget event (streamed text, a component, the root).
 */
export function renderWidget(widget, { onAction }) {
  const byId = new Map(); // component id -> { component, element }
  const container = h("div", { class: "w-root" });

  function act(action, element) {
    if (!action || element.closest("[data-w-busy]")) {
      return;
    }
    const form = element.closest("form.w-form");
    onAction(action, { values: form ? formValues(form) : {}, element });
  }

  function render(c) {
    const element = build(c);
    if (c.id) {
      byId.set(c.id, { component: c, element });
      element.dataset.wId = c.id;
    }
    if (c.key) {
      element.dataset.wKey = c.key;
    }
    element.dataset.wType = c.type;
    return element;
  }

  const children = (c) => (Array.isArray(c.children) ? c.children : c.children ? [c.children] : []).map(render);

  function build(c) {
    switch (c.type) {
      case "Card":
        return card(c);
      case "ListView":
        return listView(c);
      case "ListViewItem":
        return listViewItem(c);
      case "Basic":
        return box(c, "col");
      case "Box":
        return box(c, c.direction ?? "col");
      case "Row":
        return box(c, "row");
      case "Col":
        return box(c, "col");
      case "Form":
        return form(c);
      case "Text":
        return text(c, "p", "w-text");
      case "Title":
        return text(c, "h4", "w-title");
      case "Caption":
        return text(c, "p", "w-caption");
      case "Markdown": {
        const element = h("div", { class: "bc-md w-markdown" });
        setMarkdown(element, c.value ?? "");
        return element;
      }
      case "Badge":
        return h("span", { class: `w-badge w-badge-${c.variant ?? "soft"} w-size-${c.size ?? "md"}${c.pill ? " w-pill" : ""}`, style: `--w-badge: ${color(c.color ?? "secondary") || "var(--muted)"}` }, c.label ?? "");
      case "Button":
        return button(c);
      case "Icon": {
        const element = widgetIcon(c.name, c.size);
        style(element, { color: color(c.color) });
        return element;
      }
      case "Image":
        return image(c);
      case "Divider":
        return style(h("hr", { class: `w-divider${c.flush ? " w-flush" : ""}` }), {
          "border-top-color": color(c.color, { default: "var(--border)", subtle: "var(--border)", strong: "var(--muted)" }),
          "border-top-width": pixels(c.size),
          margin: c.spacing !== undefined ? `${length(c.spacing)} 0` : "",
        });
      case "Spacer":
        return style(h("div", { class: "w-spacer", "aria-hidden": "true" }), { "min-width": pixels(c.minSize), "min-height": pixels(c.minSize) });
      case "Input":
        return control(c, h("input", {
          type: c.inputType ?? "text",
          name: c.name,
          value: c.defaultValue ?? null,
          placeholder: c.placeholder ?? null,
          pattern: c.pattern ?? null,
          required: c.required ?? null,
          disabled: c.disabled ?? null,
          autofocus: c.autoFocus ?? null,
          class: `w-input w-${c.variant ?? "outline"}${c.pill ? " w-pill" : ""}`,
        }));
      case "Textarea": {
        const area = h("textarea", {
          name: c.name,
          rows: c.rows ?? 3,
          placeholder: c.placeholder ?? null,
          required: c.required ?? null,
          disabled: c.disabled ?? null,
          class: `w-input w-${c.variant ?? "outline"}`,
        });
        area.value = c.defaultValue ?? "";
        return control(c, area);
      }
      case "Select":
        return select(c);
      case "Checkbox":
        return checkbox(c);
      case "RadioGroup":
        return radioGroup(c);
      case "DatePicker":
        return datePicker(c);
      case "Label":
        return style(h("label", { class: "w-label", for: fieldId(c.fieldName) }, c.value ?? ""), { color: color(c.color), "font-weight": weight(c.weight), "text-align": c.textAlign });
      case "Chart":
        return chart(c);
      case "Transition":
        return h("div", { class: "w-transition" }, children(c));
      default:
        // A component this client does not know: its children, if any, still show.
        return h("div", { class: "w-unknown", "data-unknown-type": c.type }, children(c));
    }
  }

  function card(c) {
    const body = h(c.asForm ? "form" : "div", { class: `w-card-body${c.asForm ? " w-form" : ""}` }, children(c));
    style(body, { padding: spacing(c.padding) });
    if (c.asForm) {
      body.addEventListener("submit", (event) => {
        event.preventDefault();
        act(c.confirm?.action, body);
      });
    }
    const element = h("div", { class: `w-card w-card-${c.size ?? "md"}${c.collapsed ? " w-collapsed" : ""}` }, status(c.status), body);
    style(element, { background: color(c.background, BACKGROUNDS) });
    if (c.theme) {
      element.style.colorScheme = c.theme;
    }
    if (c.confirm || c.cancel) {
      const actions = h("div", { class: "w-card-actions" });
      for (const [which, primary] of [["cancel", false], ["confirm", true]]) {
        const config = c[which];
        if (config) {
          const b = h("button", { type: which === "confirm" && c.asForm ? "submit" : "button", class: `w-button w-${primary ? "solid" : "outline"}` }, config.label);
          if (!(which === "confirm" && c.asForm)) {
            b.addEventListener("click", () => act(config.action, b));
          }
          actions.append(b);
        }
      }
      (c.asForm ? body : element).append(actions);
    }
    return element;
  }

  function status(value) {
    if (!value?.text) {
      return null;
    }
    return h("div", { class: "w-status" }, value.icon ? widgetIcon(value.icon, "sm") : null, h("span", {}, value.text));
  }

  function listView(c) {
    const items = children(c);
    const list = h("ul", { class: "w-list" }, items.map((item) => h("li", {}, item)));
    const element = h("div", { class: "w-listview" }, status(c.status), list);
    if (c.theme) {
      element.style.colorScheme = c.theme;
    }
    const limit = typeof c.limit === "number" ? c.limit : null;
    if (limit !== null && items.length > limit) {
      [...list.children].slice(limit).forEach((li) => (li.hidden = true));
      const more = h("button", { type: "button", class: "w-more" }, gettext("Show more"));
      more.addEventListener("click", () => {
        [...list.children].forEach((li) => (li.hidden = false));
        more.remove();
      });
      element.append(more);
    }
    return element;
  }

  function listViewItem(c) {
    const content = children(c);
    const clickable = Boolean(c.onClickAction);
    const element = h(clickable ? "button" : "div", { class: "w-listitem", type: clickable ? "button" : null }, content);
    style(element, { gap: length(c.gap), "align-items": ALIGN[c.align] });
    if (clickable) {
      element.addEventListener("click", () => act(c.onClickAction, element));
    }
    return element;
  }

  function box(c, direction) {
    const element = h("div", { class: `w-box w-${direction}` }, children(c));
    style(element, boxStyles(c));
    return element;
  }

  function form(c) {
    const element = h("form", { class: `w-box w-form w-${c.direction ?? "col"}` }, children(c));
    style(element, boxStyles(c));
    element.addEventListener("submit", (event) => {
      event.preventDefault();
      if (element.reportValidity()) {
        act(c.onSubmitAction, element);
      }
    });
    return element;
  }

  function boxStyles(c) {
    return {
      "align-items": ALIGN[c.align],
      "justify-content": JUSTIFY[c.justify],
      "flex-wrap": c.wrap,
      gap: length(c.gap),
      padding: spacing(c.padding),
      margin: spacing(c.margin),
      "border-radius": RADII[c.radius],
      background: color(c.background, BACKGROUNDS),
      ...border(c.border),
      ...sizes(c),
    };
  }

  function text(c, tag, className) {
    const element = h(tag, { class: `${className} w-size-${c.size ?? "md"}${c.truncate ? " w-truncate" : ""}` }, c.value ?? "");
    style(element, {
      color: color(c.color),
      "font-weight": weight(c.weight),
      "font-style": c.italic ? "italic" : "",
      "text-decoration": c.lineThrough ? "line-through" : "",
      "text-align": c.textAlign,
      width: pixels(c.width),
      "-webkit-line-clamp": c.maxLines,
    });
    if (c.maxLines) {
      element.classList.add("w-clamp");
    }
    if (c.streaming) {
      element.setAttribute("aria-busy", "true");
    }
    return element;
  }

  function button(c) {
    const element = h(
      "button",
      {
        type: c.submit ? "submit" : "button",
        class: `w-button w-${c.variant ?? (c.style === "secondary" ? "outline" : "solid")} w-size-${c.size ?? "md"}${c.pill ? " w-pill" : ""}${c.block ? " w-block" : ""}${c.uniform ? " w-uniform" : ""}`,
        disabled: c.disabled ?? null,
        "aria-label": !c.label && (c.iconStart || c.iconEnd) ? c.iconStart || c.iconEnd : null,
      },
      c.iconStart ? widgetIcon(c.iconStart, c.iconSize ?? "sm") : null,
      c.label ? h("span", {}, c.label) : null,
      c.iconEnd ? widgetIcon(c.iconEnd, c.iconSize ?? "sm") : null,
    );
    element.style.setProperty("--w-button", color(c.color ?? "primary", { ...TEXT_COLORS, primary: "var(--accent)", secondary: "var(--muted)" }) || "var(--accent)");
    if (!c.submit) {
      element.addEventListener("click", () => act(c.onClickAction, element));
    }
    return element;
  }

  function image(c) {
    const safe = /^(https?:|data:image\/|\/)/i.test(c.src ?? "") ? c.src : "";
    const element = h("img", { class: `w-image${c.frame ? " w-frame" : ""}`, src: safe || null, alt: c.alt ?? "", loading: "lazy" });
    style(element, {
      "object-fit": c.fit ?? "cover",
      "object-position": c.position,
      "border-radius": RADII[c.radius],
      margin: spacing(c.margin),
      background: color(c.background, BACKGROUNDS),
      ...sizes(c),
    });
    return element;
  }

  function control(c, input) {
    input.id = fieldId(c.name);
    if (c.onChangeAction) {
      input.addEventListener("change", () => act(c.onChangeAction, input));
    }
    return input;
  }

  function select(c) {
    const element = h("select", { name: c.name, class: `w-input w-${c.variant ?? "outline"}`, disabled: c.disabled ?? null });
    if (c.placeholder || c.clearable || !c.defaultValue) {
      element.append(h("option", { value: "" }, c.placeholder ?? ""));
    }
    for (const option of c.options ?? []) {
      element.append(h("option", { value: option.value, disabled: option.disabled ?? null, title: option.description ?? null }, option.label));
    }
    element.value = c.defaultValue ?? "";
    return control(c, element);
  }

  function checkbox(c) {
    const input = control(c, h("input", { type: "checkbox", name: c.name, disabled: c.disabled ?? null, required: c.required ?? null }));
    input.checked = Boolean(c.defaultChecked);
    return h("label", { class: "w-check" }, input, c.label ? h("span", {}, c.label) : null);
  }

  function radioGroup(c) {
    const group = h("div", { class: `w-radios w-${c.direction ?? "row"}`, role: "radiogroup", "aria-label": c.ariaLabel ?? c.name, id: fieldId(c.name) });
    for (const option of c.options ?? []) {
      const input = h("input", { type: "radio", name: c.name, value: option.value, disabled: option.disabled || c.disabled || null, required: c.required ?? null });
      input.checked = option.value === c.defaultValue;
      if (c.onChangeAction) {
        input.addEventListener("change", () => act(c.onChangeAction, input));
      }
      group.append(h("label", { class: "w-check" }, input, h("span", {}, option.label)));
    }
    return group;
  }

  function datePicker(c) {
    const day = (value) => (value ? String(value).slice(0, 10) : null);
    const input = h("input", {
      type: "date",
      name: c.name,
      value: day(c.defaultValue),
      min: day(c.min),
      max: day(c.max),
      placeholder: c.placeholder ?? null,
      disabled: c.disabled ?? null,
      class: `w-input w-${c.variant ?? "outline"}`,
      "aria-label": c.placeholder ?? c.name,
    });
    return control(c, input);
  }

  function chart(c) {
    return style(h("figure", { class: "w-chart" }, drawChart(c)), { ...sizes(c), height: pixels(c.height ?? 200) });
  }

  function fieldId(name) {
    return `w-${renderCount}-${String(name).replace(/[^\w-]/g, "_")}`;
  }

  renderCount += 1;
  container.append(render(widget));

  return {
    element: container,
    /** Apply a widget update (the `update` of a thread.item.updated event). */
    update(event) {
      if (event.type === "widget.root.updated") {
        byId.clear();
        container.replaceChildren(render(event.widget));
        return event.widget;
      }
      if (event.type === "widget.component.updated") {
        const found = byId.get(event.component_id);
        if (found) {
          found.element.replaceWith(render(event.component));
        }
        return null;
      }
      if (event.type === "widget.streaming_text.value_delta") {
        const found = byId.get(event.component_id);
        if (found) {
          found.component.value = (found.component.value ?? "") + event.delta;
          if (found.component.type === "Markdown") {
            setMarkdown(found.element, found.component.value);
          } else {
            found.element.textContent = found.component.value;
          }
          found.element.setAttribute("aria-busy", String(!event.done));
        }
      }
      return null;
    },
    /** Mark the widget (or `element` inside it) busy while an action runs. */
    setBusy(element, busy) {
      const target = element ?? container;
      if (busy) {
        target.dataset.wBusy = "true";
        target.setAttribute("aria-busy", "true");
      } else {
        delete target.dataset.wBusy;
        target.removeAttribute("aria-busy");
      }
    },
  };
}

let renderCount = 0;

function weight(value) {
  return { normal: 400, medium: 500, semibold: 600, bold: 700 }[value] ?? "";
}

/** A form's fields by name: checkboxes as booleans, numbers as numbers, dotted names nested. */
export function formValues(form) {
  const values = {};
  const set = (name, value) => {
    const path = name.split(".");
    let target = values;
    path.slice(0, -1).forEach((part) => (target = target[part] ??= {}));
    target[path.at(-1)] = value;
  };
  for (const field of form.elements) {
    if (!field.name || field.disabled) {
      continue;
    }
    if (field.type === "checkbox") {
      set(field.name, field.checked);
    } else if (field.type === "radio") {
      if (field.checked) {
        set(field.name, field.value);
      }
    } else if (field.type === "number") {
      set(field.name, field.value === "" ? null : Number(field.value));
    } else if (field.tagName !== "BUTTON") {
      set(field.name, field.value);
    }
  }
  return values;
}

// --- charts: SVG, bar / line / area series over one x axis ------------------------------------

function drawChart(c) {
  const width = 480;
  const height = 200;
  const pad = { top: 10, right: 10, bottom: 28, left: c.showYAxis === false ? 10 : 40 };
  const xKey = typeof c.xAxis === "string" ? c.xAxis : c.xAxis?.dataKey;
  const xLabels = typeof c.xAxis === "object" ? c.xAxis.labels ?? {} : {};
  const data = c.data ?? [];
  const series = c.series ?? [];
  const stacks = new Map();
  let max = 0;
  data.forEach((row, i) => {
    series.forEach((s) => {
      const value = Number(row[s.dataKey]) || 0;
      const key = s.stack ? `${s.stack}:${i}` : null;
      const total = key ? (stacks.get(key) ?? 0) + value : value;
      if (key) {
        stacks.set(key, total);
      }
      max = Math.max(max, total);
    });
  });
  max = max || 1;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("class", "w-chart-svg");
  const summary = series.map((s) => s.label ?? s.dataKey).join(", ");
  svg.setAttribute("aria-label", `${gettext("Chart")}: ${summary}`);
  const node = (tag, attributes, text = null) => {
    const element = document.createElementNS(SVG_NS, tag);
    Object.entries(attributes).forEach(([name, value]) => element.setAttribute(name, value));
    if (text !== null) {
      element.textContent = text;
    }
    svg.append(element);
    return element;
  };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const band = plotW / Math.max(1, data.length);
  const y = (value) => pad.top + plotH - (value / max) * plotH;
  const xCenter = (i) => pad.left + band * i + band / 2;
  node("line", { x1: pad.left, x2: width - pad.right, y1: pad.top + plotH, y2: pad.top + plotH, class: "w-axis" });
  if (c.showYAxis !== false) {
    for (const tick of [0, 0.5, 1]) {
      node("text", { x: pad.left - 6, y: y(max * tick) + 4, "text-anchor": "end", class: "w-tick" }, formatTick(max * tick));
      node("line", { x1: pad.left, x2: width - pad.right, y1: y(max * tick), y2: y(max * tick), class: "w-grid" });
    }
  }
  if (!(typeof c.xAxis === "object" && c.xAxis.hide)) {
    data.forEach((row, i) => {
      const raw = String(row[xKey] ?? "");
      node("text", { x: xCenter(i), y: height - 8, "text-anchor": "middle", class: "w-tick" }, xLabels[raw] ?? raw);
    });
  }
  const bars = series.filter((s) => s.type === "bar");
  const barGroups = [...new Set(bars.map((s) => s.stack ?? s.dataKey))];
  const barWidth = (band * 0.7) / Math.max(1, barGroups.length);
  const stacked = new Map();
  series.forEach((s, index) => {
    const fill = color(s.color, CHART_COLORS) || CHART_COLORS[SERIES_ORDER[index % SERIES_ORDER.length]];
    const values = data.map((row) => Number(row[s.dataKey]) || 0);
    if (s.type === "bar") {
      const group = barGroups.indexOf(s.stack ?? s.dataKey);
      values.forEach((value, i) => {
        const key = `${s.stack ?? s.dataKey}:${i}`;
        const base = s.stack ? stacked.get(key) ?? 0 : 0;
        stacked.set(key, base + value);
        const x = pad.left + band * i + band * 0.15 + group * barWidth;
        const rect = node("rect", { x, y: y(base + value), width: Math.max(1, barWidth - 2), height: Math.max(0, y(base) - y(base + value)), rx: 2, class: "w-bar" });
        rect.style.fill = fill;
        const title = document.createElementNS(SVG_NS, "title");
        title.textContent = `${s.label ?? s.dataKey}: ${value}`;
        rect.append(title);
      });
    } else {
      const points = values.map((value, i) => `${xCenter(i)},${y(value)}`);
      if (s.type === "area" && points.length) {
        const area = node("polygon", {
          points: `${xCenter(0)},${y(0)} ${points.join(" ")} ${xCenter(values.length - 1)},${y(0)}`,
          class: "w-area",
        });
        area.style.fill = fill;
      }
      const line = node("polyline", { points: points.join(" "), class: "w-line", fill: "none" });
      line.style.stroke = fill;
      values.forEach((value, i) => {
        const dot = node("circle", { cx: xCenter(i), cy: y(value), r: 3, class: "w-point" });
        dot.style.fill = fill;
      });
    }
  });
  const parts = [svg];
  if (c.showLegend !== false && series.length) {
    parts.push(
      h(
        "figcaption",
        { class: "w-legend" },
        series.map((s, index) => {
          const swatch = h("span", { class: "w-swatch", "aria-hidden": "true" });
          swatch.style.background = color(s.color, CHART_COLORS) || CHART_COLORS[SERIES_ORDER[index % SERIES_ORDER.length]];
          return h("span", { class: "w-legend-item" }, swatch, s.label ?? s.dataKey);
        }),
      ),
    );
  }
  return parts;
}

function formatTick(value) {
  return Math.abs(value) >= 1000 ? `${Math.round(value / 100) / 10}k` : String(Math.round(value * 10) / 10);
}
