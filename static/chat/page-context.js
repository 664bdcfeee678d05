// What a ChatKit request says about the page: `metadata.page` = {url, title, selection}.
// The server bounds and validates it (chat/context.py) and mentions the page to the
// agent. Both chat clients send it through addPageContext, so they send the same thing.

// Requests that carry a new user message: the quoted selection belongs to the first one.
const MESSAGE_REQUESTS = new Set(["threads.create", "threads.add_user_message"]);

/**
 * Return the JSON request `body` with `metadata.page` set to `page`, re-serialised.
 * Anything that is not a JSON object (an upload, say) is returned unchanged.
 */
export function addPageContext(body, page) {
  const request = parseRequest(body);
  if (!request) {
    return body;
  }
  const metadata = isPlainObject(request.metadata) ? request.metadata : {};
  return JSON.stringify({ ...request, metadata: { ...metadata, page } });
}

/**
 * The page context of this tab. The selection the user asked about ("Ask AI") rides along
 * until a request has carried it with a user message, cut to what the server keeps of it
 * (`limits`: the server's PAGE_LIMITS from the page config).
 * Returns { setSelection(text), current(), apply(body) }.
 */
export function createPageContext({ limits, location = window.location, doc = document }) {
  let selection = "";

  function current() {
    const page = { url: location.href, title: doc.title };
    if (selection) {
      page.selection = selection;
    }
    return page;
  }

  function apply(body) {
    const result = addPageContext(body, current());
    if (selection && MESSAGE_REQUESTS.has(parseRequest(body)?.type)) {
      selection = "";
    }
    return result;
  }

  return {
    setSelection(text) {
      selection = String(text ?? "").trim().slice(0, limits.selection);
    },
    current,
    apply,
  };
}

function parseRequest(body) {
  if (typeof body !== "string") {
    return null;
  }
  try {
    const request = JSON.parse(body);
    return isPlainObject(request) ? request : null;
  } catch {
    return null;
  }
}

function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
