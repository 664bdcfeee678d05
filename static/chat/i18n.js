// The client's strings through Django's JavaScript catalog (django.views.i18n's
// JavaScriptCatalog at /jsi18n/, loaded by the page before the modules run): the catalog
// of the page's language, English when there is none. `interpolate` fills %(name)s.

const catalog = globalThis.django ?? {};

/** The translation of `text` in the page's language. */
export function gettext(text) {
  return catalog.gettext ? catalog.gettext(text) : text;
}

/** `singular` or `plural` for `count`, translated. */
export function ngettext(singular, plural, count) {
  return catalog.ngettext ? catalog.ngettext(singular, plural, count) : count === 1 ? singular : plural;
}

/** `format` with its %(name)s placeholders filled from `values`. */
export function interpolate(format, values) {
  return format.replace(/%\((\w+)\)s/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** The page's language (the <html lang>), for dates and numbers. */
export function pageLanguage() {
  return document.documentElement.lang || undefined;
}
