// The account pages' only script (same origin, no inline code: the pages'
// Content-Security-Policy allows nothing else). Each page posts the token
// from its link to the JSON API when the resident presses its button, so
// a mail scanner that fetches the link spends nothing.
"use strict";

(function () {
  const main = document.querySelector("main[data-page]");
  const form = document.getElementById("account-form");
  const status = document.getElementById("status");
  const token = new URLSearchParams(window.location.search).get("token") || "";

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  function problem(response) {
    return response.json().then(
      (body) => body.detail || body.title || "Something went wrong.",
      () => "Something went wrong (" + response.status + ")."
    );
  }

  const pages = {
    verify: {
      request: () => ({ url: "/api/v1/auth/verify-email", body: JSON.stringify({ token }) }),
      done: "Thank you: your address is confirmed.",
    },
    reset: {
      check: () => {
        const first = document.getElementById("new-password").value;
        const second = document.getElementById("repeat-password").value;
        return first === second ? null : "The two passwords differ.";
      },
      request: () => ({
        url: "/api/v1/auth/password-reset/confirm",
        body: JSON.stringify({ token, new_password: document.getElementById("new-password").value }),
      }),
      done: "Your password is changed. Sign in with it on every device.",
    },
    unsubscribe: {
      request: () => ({
        url: "/api/v1/unsubscribe?token=" + encodeURIComponent(token),
        body: "List-Unsubscribe=One-Click",
        type: "application/x-www-form-urlencoded",
      }),
      done: "Done: you will not get these mails any more.",
    },
  };

  const page = pages[main.dataset.page];
  if (!token) {
    say("This link is incomplete: open it from the mail again.", true);
    form.querySelector("button").disabled = true;
    return;
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const invalid = page.check && page.check();
    if (invalid) {
      say(invalid, true);
      return;
    }
    const { url, body, type } = page.request();
    const button = form.querySelector("button");
    button.disabled = true;
    fetch(url, { method: "POST", headers: { "Content-Type": type || "application/json" }, body })
      .then((response) => {
        if (response.ok) {
          say(page.done, false);
          return;
        }
        button.disabled = false;
        return problem(response).then((text) => say(text, true));
      })
      .catch(() => {
        button.disabled = false;
        say("The server could not be reached. Try again.", true);
      });
  });
})();
