/* Share links (issue 15, "Share"): opens the share dialog htmx swapped in, and copies its link.
 *
 * Loaded by the dialog itself (templates/conversations/_share_dialog.html), so it arrives with
 * the first dialog wherever the header came from; a second copy only opens the dialog. Without
 * this file the dialog still works as a page of its own (its forms post; the link can be selected).
 */
(() => {
  "use strict";

  const SELECTOR = "dialog[data-share-open]";

  const open = (root) => {
    const found = root.matches?.(SELECTOR) ? [root] : Array.from(root.querySelectorAll?.(SELECTOR) ?? []);
    for (const dialog of found) if (dialog.isConnected && !dialog.open) dialog.showModal();
  };

  if (window.shareDialog) {
    window.shareDialog.open(document);
    return;
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-share-copy]");
    if (!button) return;
    const input = document.querySelector(button.dataset.shareCopy);
    const status = button.closest("dialog")?.querySelector("[data-share-status]");
    if (!input) return;
    const ok = await window.copyText(input.value); // static/js/chat.js, loaded on every page
    const T = window.pageText; // the page's words, in its language (static/js/text.js)
    if (status) status.textContent = ok ? T("linkCopied") : T("linkNotCopied");
    button.textContent = ok ? T("copied") : T("copy");
    setTimeout(() => (button.textContent = T("copy")), 2000);
  });

  document.addEventListener("htmx:load", (event) => open(event.detail.elt));
  window.shareDialog = { open };
  open(document);
})();
