/* When each message was sent (issue 14): every <time data-relative> says it relative to now, kept current.
 *
 * The server writes the same words (conversations/templatetags/chat.py, `sent_ago`): "just now",
 * "5 min ago", "3 h ago", "yesterday", "12 Mar", "12 Mar 2023"; here they are worked out again in the
 * browser's time zone, every minute and as messages arrive. A <time> without a datetime (a message
 * this page has just shown, before the server's copy replaces it) is stamped with the moment it arrived.
 */
(() => {
  "use strict";

  const MINUTE = 60 * 1000;
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const midnight = (date) => new Date(date.getFullYear(), date.getMonth(), date.getDate());

  function sentAgo(date, now) {
    const seconds = (now - date) / 1000;
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    const days = Math.round((midnight(now) - midnight(date)) / (24 * 60 * MINUTE)); // round: a day may have 23 or 25 hours
    if (days === 0) return `${Math.floor(seconds / 3600)} h ago`;
    if (days === 1) return "yesterday";
    const day = `${date.getDate()} ${MONTHS[date.getMonth()]}`;
    return date.getFullYear() === now.getFullYear() ? day : `${day} ${date.getFullYear()}`;
  }

  function show(time, now) {
    if (!time.dateTime) {
      time.dateTime = now.toISOString();
      time.title = now.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" });
    }
    const date = new Date(time.dateTime);
    if (!Number.isNaN(date.getTime())) time.textContent = sentAgo(date, now);
  }

  function refresh(root = document) {
    const now = new Date();
    if (root.matches?.("time[data-relative]")) show(root, now);
    root.querySelectorAll?.("time[data-relative]").forEach((time) => show(time, now));
  }

  new MutationObserver((changes) => {
    for (const change of changes) change.addedNodes.forEach((node) => node.nodeType === Node.ELEMENT_NODE && refresh(node));
  }).observe(document.body, { childList: true, subtree: true });
  setInterval(() => refresh(), MINUTE);
  refresh();
})();
