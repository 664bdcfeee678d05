// The fetch every ChatKit request goes through (ChatKit's `api.fetch`, and the built-in
// client's requests): the page context goes into the body, the Bearer token into the
// header; a 401 gets one token renewal and one retry.

/**
 * A fetch-compatible function for the ChatKit endpoint.
 * `tokens` is a token source ({get, renew}), `pageContext` has apply(body).
 */
export function createChatFetch({ tokens, pageContext }) {
  return async function chatFetch(input, init = {}) {
    const body = pageContext.apply(init.body);
    const send = (token) => fetch(input, withBearer({ ...init, body }, token));
    const response = await send(await tokens.get());
    if (response.status !== 401) {
      return response;
    }
    // Expired or revoked: one fresh token, one retry. A second 401 goes back to the caller.
    return send(await tokens.renew());
  };
}

function withBearer(init, token) {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${token}`);
  return { ...init, headers };
}
