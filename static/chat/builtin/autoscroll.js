// Keep a scrolling list pinned to its end while content grows, until the user scrolls up
// (to read something earlier); scrolling back to the end pins it again.

const NEAR_END_PX = 48;
// How long after a wheel turn, a touch or a key press a scroll counts as the user's.
const INTENT_MS = 600;

/**
 * Wire `scroller`, whose growing part is `content`.
 * Returns { follow(), toEnd(), toStart(), keepPosition(change) }:
 * follow() after content grew (scrolls only while pinned), toEnd() to pin and scroll,
 * toStart() to unpin and show the top, keepPosition(change) runs `change` (adding content
 * above) without moving what is seen.
 */
export function createAutoScroll(scroller, content) {
  let pinned = true;
  let lastTop = scroller.scrollTop;
  let intentUntil = 0;
  let pointerDown = false;

  // Only the user unpins. Layout moves the position too (a narrower panel rewraps the
  // text, the browser clamps the position), so a scroll up counts only right after the
  // user turned the wheel, touched, pressed a key or while they drag the bar; a pinned
  // view moved by layout goes back to the end when the sizes settle (below).
  const intent = () => {
    intentUntil = performance.now() + INTENT_MS;
  };
  scroller.addEventListener("wheel", intent, { passive: true });
  scroller.addEventListener("touchmove", intent, { passive: true });
  // Keys scroll, and so does Tab moving the focus to an earlier message's buttons.
  scroller.addEventListener("keydown", intent);
  scroller.addEventListener("pointerdown", () => {
    pointerDown = true;
  });
  window.addEventListener("pointerup", () => {
    pointerDown = false;
  });
  window.addEventListener("pointercancel", () => {
    pointerDown = false;
  });

  scroller.addEventListener("scroll", () => {
    const top = scroller.scrollTop;
    const byUser = pointerDown || performance.now() < intentUntil;
    if (distanceToEnd() <= NEAR_END_PX) {
      pinned = true;
    } else if (byUser && top < lastTop - 1) {
      pinned = false;
    }
    lastTop = scroller.scrollTop;
  }, { passive: true });

  // Sizes change without any scrolling too: the panel or the window is resized, an image
  // in a message finishes loading. A pinned view stays at the end through all of them.
  const resized = new ResizeObserver(() => {
    if (pinned) {
      scrollToEnd();
    }
  });
  resized.observe(scroller);
  resized.observe(content);

  function distanceToEnd() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
  }

  function scrollToEnd() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  return {
    follow() {
      if (pinned) {
        scrollToEnd();
      }
    },
    toEnd() {
      pinned = true;
      scrollToEnd();
    },
    toStart() {
      pinned = false;
      scroller.scrollTop = 0;
      lastTop = 0;
    },
    keepPosition(change) {
      const fromEnd = scroller.scrollHeight - scroller.scrollTop;
      change();
      scroller.scrollTop = scroller.scrollHeight - fromEnd;
      lastTop = scroller.scrollTop;
    },
  };
}
