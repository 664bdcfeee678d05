// The thread a user was in, remembered across reloads. The key includes the user's id so
// two people sharing a browser never land in each other's conversation.

import { readItem, writeItem } from "../site/storage.js";

/** The localStorage key of `userId`'s current thread. */
export function threadKey(userId) {
  return `chat.thread.${userId}`;
}

/** The remembered thread id of `userId`, or null. */
export function rememberedThread(userId) {
  return readItem(threadKey(userId)) || null;
}

/** Remember `threadId` for `userId`; null forgets (a new, empty thread). */
export function rememberThread(userId, threadId) {
  writeItem(threadKey(userId), threadId || null);
}
