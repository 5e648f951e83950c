/* The Copy button of code blocks (conversations/markdown.py) on pages without the chat's pane, such as
 * the shared page (/s/<token>); in the pane chat.js copies. Uses chat.js's copyText (loaded on every page). */
document.addEventListener("click", async (event) => {
  const button = event.target.closest(".code__copy");
  if (!button || button.closest("#message-log")) return;
  const ok = await window.copyText(button.parentElement.querySelector("pre")?.innerText ?? "");
  const T = window.pageText; // the page's words, in its language (static/js/text.js)
  button.textContent = ok ? T("copied") : T("copyFailed");
  setTimeout(() => (button.textContent = T("copy")), 2000);
});
