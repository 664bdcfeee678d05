// The chat's configuration, rendered by the {% chat_widget %} template tag as a
// json_script block. Its absence means nobody is logged in: no chat on this page.

/** The parsed configuration, or null when the page has none. */
export function readChatConfig(doc = document) {
  const node = doc.getElementById("chat-config");
  if (!node) {
    return null;
  }
  try {
    return JSON.parse(node.textContent);
  } catch (error) {
    console.error("Chat configuration is not valid JSON", error);
    return null;
  }
}
