/* Drafts (issue 14): the unsent text of each conversation survives a reload.
 *
 * The message box's text is kept in localStorage under "chat:draft:<conversation id>"
 * ("chat:draft:new" for a new conversation's box) as it is typed, put back when that
 * conversation's pane opens with an empty box, and forgotten once it is sent: chat.js empties
 * the box when it takes a message, in its own Enter and submit handlers, which run before these.
 */
(() => {
  "use strict";

  const keyOf = (pane) => `chat:draft:${pane.dataset.conversationId || "new"}`;
  const boxOf = (pane) => pane?.querySelector("#composer-text");

  // localStorage can be missing or full (private windows, quotas): a draft is then not kept, nothing fails.
  function read(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  }
  function write(key, text) {
    try {
      if (text.trim()) localStorage.setItem(key, text);
      else localStorage.removeItem(key);
    } catch { /* not kept */ }
  }

  let signingOut = false;

  /** Sign-out forgets every draft: the next person on this browser must not find them. */
  function forgetAll() {
    signingOut = true;
    try {
      Object.keys(localStorage).filter((key) => key.startsWith("chat:draft:")).forEach((key) => localStorage.removeItem(key));
    } catch { /* nothing kept */ }
  }

  function save() {
    if (signingOut) return;
    const pane = document.getElementById("pane");
    const box = boxOf(pane);
    if (box) write(keyOf(pane), box.value);
  }

  function restore(pane) {
    const box = boxOf(pane);
    const draft = box && !box.value && read(keyOf(pane));
    if (!draft) return;
    box.value = draft;
    box.dispatchEvent(new Event("input", { bubbles: true })); // chat.js sizes the box and enables Send
  }

  document.addEventListener("chat:pane", (event) => restore(event.target));
  document.addEventListener("input", (event) => event.target.id === "composer-text" && save());
  document.addEventListener("keydown", (event) => event.key === "Enter" && event.target.id === "composer-text" && save());
  document.addEventListener("submit", (event) => event.target.matches("[data-composer]") && save());
  document.addEventListener("submit", (event) => event.target.matches("[data-sign-out]") && forgetAll());
  window.addEventListener("pagehide", save); // text chat.js gave back to the box (a message it could not send)

  const pane = document.getElementById("pane");
  if (pane?.chatPane) restore(pane); // set up before this file ran
})();
