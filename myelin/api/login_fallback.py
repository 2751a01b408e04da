"""Login fallback (spec: Client-Server API, "Login Fallback"): GET /_matrix/static/client/login/.

An HTML page that logs in with a user ID and password through ``POST /login`` and hands the
response to ``window.matrixLogin.onLogin``. Since v1.1 the non-credential ``/login`` parameters
given in the page's query string (``device_id``, ``initial_device_display_name``,
``refresh_token``) are forwarded to ``/login``; the page reads them itself.
"""

from aiohttp import web

from myelin.api.http import Context, Endpoint

PATH = "/_matrix/static/client/login/"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in</title>
</head>
<body>
<form id="login">
<p><label>User ID or name <input id="user" name="user" autocomplete="username" required></label></p>
<p><label>Password <input id="password" name="password" type="password"
 autocomplete="current-password" required></label></p>
<p><button type="submit">Log in</button></p>
<p id="message" role="alert"></p>
</form>
<script>
"use strict";
window.matrixLogin = window.matrixLogin || {};
document.getElementById("login").addEventListener("submit", async function (ev) {
  ev.preventDefault();
  var query = new URLSearchParams(window.location.search);
  var body = {
    type: "m.login.password",
    identifier: {type: "m.id.user", user: document.getElementById("user").value},
    password: document.getElementById("password").value
  };
  ["device_id", "initial_device_display_name"].forEach(function (key) {
    if (query.has(key)) { body[key] = query.get(key); }
  });
  if (query.get("refresh_token") === "true") { body.refresh_token = true; }
  var message = document.getElementById("message");
  message.textContent = "";
  try {
    var response = await fetch("../../../client/v3/login", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body)
    });
    var result = await response.json();
    if (!response.ok) {
      message.textContent = result.error || "Login failed";
      return;
    }
    if (typeof window.matrixLogin.onLogin === "function") {
      window.matrixLogin.onLogin(result);
    } else {
      message.textContent = "Logged in.";
    }
  } catch (e) {
    message.textContent = "Login failed: " + e;
  }
});
</script>
</body>
</html>
"""


def login_fallback_endpoints() -> list[Endpoint]:
    async def page(ctx: Context) -> web.StreamResponse:
        return web.Response(
            text=PAGE,
            content_type="text/html",
            charset="utf-8",
            headers={"Content-Security-Policy": "frame-ancestors 'self'"},
        )

    return [Endpoint("client.login_fallback", "GET", PATH, "client", page)]
