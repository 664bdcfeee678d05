// Server-sent events read from a fetch body as they arrive: the ChatKit endpoint's answers
// and a resumed turn. Shared by the built-in client and the widget's fetch wrapper.

/**
 * An incremental parser of a text/event-stream body: push() decoded text as it arrives,
 * end() at the end of the body. `onEvent` gets each `data:` payload, JSON-decoded.
 * Comment lines (the server's `: keepalive`) and other fields are ignored.
 */
export function createEventStreamParser(onEvent) {
  let buffer = "";
  let data = [];

  function line(text) {
    if (text === "") {
      dispatch();
    } else if (text.startsWith("data:")) {
      // One optional space after the colon belongs to the syntax, not to the payload.
      data.push(text.slice(text.startsWith("data: ") ? 6 : 5));
    }
  }

  function dispatch() {
    if (data.length === 0) {
      return;
    }
    const payload = data.join("\n");
    data = [];
    let event;
    try {
      event = JSON.parse(payload);
    } catch {
      console.error("Ignoring an event that is not JSON:", payload.slice(0, 200));
      return;
    }
    onEvent(event);
  }

  return {
    push(text) {
      buffer += text;
      const lines = buffer.split(/\r\n|\r|\n/);
      // The last piece may be half a line: keep it for the next chunk.
      buffer = lines.pop();
      lines.forEach(line);
    },
    end() {
      if (buffer) {
        line(buffer);
        buffer = "";
      }
      dispatch();
    },
  };
}
