/* When each message was sent (issue 14): every <time data-relative> says it relative to now, kept current.
 *
 * The server writes the same words (conversations/templatetags/chat.py, `sent_ago`): "just now",
 * "5 min ago", "3 h ago", "yesterday", "12 Mar", "12 Mar 2023"; here they are worked out again in the
 * browser's time zone, every minute and as messages arrive. A <time> without a datetime (a message
 * this page has just shown, before the server's copy replaces it) is stamped with the moment it arrived.
 * The words and month names are the page's language's (static/js/text.js, conversations/page_text.py).
 */
(() => {
  "use strict";

  const MINUTE = 60 * 1000;
  const T = window.pageText;
  const MONTHS = T.words().months || [];
  const midnight = (date) => new Date(date.getFullYear(), date.getMonth(), date.getDate());

  function sentAgo(date, now) {
    const seconds = (now - date) / 1000;
    if (seconds < 60) return T("justNow");
    if (seconds < 3600) return T("minutesAgo", { minutes: Math.floor(seconds / 60) });
    const days = Math.round((midnight(now) - midnight(date)) / (24 * 60 * MINUTE)); // round: a day may have 23 or 25 hours
    if (days === 0) return T("hoursAgo", { hours: Math.floor(seconds / 3600) });
    if (days === 1) return T("yesterday");
    const day = { day: date.getDate(), month: MONTHS[date.getMonth()], year: date.getFullYear() };
    return T(date.getFullYear() === now.getFullYear() ? "dayMonth" : "dayMonthYear", day);
  }

  function show(time, now) {
    if (!time.dateTime) {
      time.dateTime = now.toISOString();
      time.title = now.toLocaleString(document.documentElement.lang || undefined, { dateStyle: "full", timeStyle: "short" });
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
