/* Keyboard shortcuts of the chat page (issue 14), listed in the dialog "?" opens
 * (templates/conversations/_shortcuts.html; Escape or Close closes it, as any modal <dialog>):
 *
 *   Ctrl+Shift+O   new conversation: the sidebar's "New conversation" link (htmx swaps the pane)
 *   Shift+Esc      go to the message box
 *   Ctrl+Shift+C   copy the last reply as written (its Markdown: the message's <template class="msg__source">)
 *   Esc            stop the reply being written: the Stop button, while it shows
 *   ?              the list (outside text fields)
 *
 * ⌘ works for Ctrl. Each does what a click on the page's own control does; no shortcut acts while
 * a dialog, a popover or the drawer is open, except Escape closing it (chat.js, the browser).
 */
(() => {
  "use strict";

  const inTextField = (el) => Boolean(el.closest?.('input, textarea, select, [contenteditable]:not([contenteditable="false"])'));

  function somethingOpen() {
    if (document.querySelector("dialog[open], details.popover[open]") || document.body.classList.contains("drawer-open")) return true;
    return [...document.querySelectorAll("[popover]")].some((el) => el.matches(":popover-open"));
  }

  const T = window.pageText; // the page's words, in its language (static/js/text.js)

  function say(text) {
    const status = document.querySelector("[data-shortcut-status]");
    if (status) status.textContent = text;
  }

  /** The newest finished reply's Markdown (the only ones with their source on the page). */
  async function copyLastReply() {
    const sources = document.querySelectorAll("#message-log .msg--assistant template.msg__source");
    const source = sources[sources.length - 1];
    if (!source) return say(T("noReply"));
    const ok = await window.copyText(source.content.textContent); // static/js/chat.js
    say(ok ? T("replyCopied") : T("replyNotCopied"));
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing || event.altKey) return;
    const ctrl = event.ctrlKey || event.metaKey;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    let act = null;
    if (ctrl && event.shiftKey && key === "o") act = () => document.querySelector("[data-new-conversation]")?.click();
    else if (ctrl && event.shiftKey && key === "c") act = copyLastReply;
    else if (!ctrl && event.shiftKey && key === "Escape") act = () => document.getElementById("composer-text")?.focus();
    else if (!ctrl && !event.shiftKey && key === "Escape") {
      const stop = document.querySelector('#pane [data-action="stop"]');
      if (stop && !stop.hidden && !somethingOpen()) act = () => stop.click();
    } else if (!ctrl && key === "?" && !inTextField(event.target)) {
      const dialog = document.getElementById("shortcuts");
      if (dialog && !dialog.open) act = () => dialog.showModal();
    }
    if (!act || (somethingOpen() && key !== "Escape")) return;
    event.preventDefault();
    act();
  });
})();
