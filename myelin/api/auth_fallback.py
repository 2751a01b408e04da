"""User-interactive authentication fallback (spec: Client-Server API, "User-Interactive
Authentication API", "Fallback"): ``GET /_matrix/client/v3/auth/{authType}/fallback/web``.

An HTML page per auth type a client may not know how to handle (``m.login.password``,
``m.login.dummy``, ``m.login.registration_token``). Submitting it (a form ``POST`` to the same
URL) completes the stage for the session; the page then runs the spec's snippet, calling
``window.onAuthDone()`` or posting ``"authDone"`` to ``window.opener``, after which the client
resubmits its request with only the session ID. A failed check shows the form again with the
reason.
"""

import html

from aiohttp import web

from myelin.api.http import Context, Endpoint
from myelin.services.auth_sessions import (
    DUMMY,
    PASSWORD,
    REGISTRATION_TOKEN,
    StageFailedError,
    UserInteractiveAuth,
)
from myelin.services.errors import MatrixError
from myelin.services.ratelimit import LOGIN_ADDRESS

PATH = "/_matrix/client/v3/auth/{authType}/fallback/web"

# Each stage: the page's explanation and its form fields (name, label, input type).
STAGES: dict[str, tuple[str, tuple[tuple[str, str, str], ...]]] = {
    PASSWORD: (
        "Confirm your identity with your password.",
        (("password", "Password", "password"),),
    ),
    DUMMY: ("Press the button to continue.", ()),
    REGISTRATION_TOKEN: (
        "Enter the registration token you were given.",
        (("token", "Registration token", "text"),),
    ),
}

# The spec's snippet, run once the stage is complete.
AUTH_DONE = """if (window.onAuthDone) {
    window.onAuthDone();
} else if (window.opener && window.opener.postMessage) {
    window.opener.postMessage("authDone", "*");
}"""

_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authentication</title>
</head>
<body>
"""


def _page(body: str) -> web.Response:
    return web.Response(
        text=_HEAD + body + "</body>\n</html>\n",
        content_type="text/html",
        charset="utf-8",
        headers={
            # Not framed by other sites (the page takes a password); no caching of it.
            "Content-Security-Policy": "frame-ancestors 'self'",
            "Cache-Control": "no-store",
        },
    )


def form_page(stage: str, session_id: str, user_id: str | None, error: str | None) -> web.Response:
    """The form of ``stage`` for the session, posting back to this very URL."""
    explanation, fields = STAGES[stage]
    parts = [f"<p>{html.escape(explanation)}</p>"]
    if error is not None:
        parts.append(f'<p id="error" role="alert">{html.escape(error)}</p>')
    parts.append('<form method="post">')
    parts.append(f'<input type="hidden" name="session" value="{html.escape(session_id)}">')
    if stage == PASSWORD and user_id is not None:
        # For password managers: the account the password is for.
        parts.append(
            f'<p>{html.escape(user_id)}<input type="hidden" name="username"'
            f' autocomplete="username" value="{html.escape(user_id)}"></p>'
        )
    for name, label, kind in fields:
        auto = ' autocomplete="current-password"' if kind == "password" else ""
        parts.append(
            f'<p><label>{html.escape(label)} <input name="{name}" type="{kind}"{auto}'
            " required></label></p>"
        )
    parts.append('<p><button type="submit">Continue</button></p>\n</form>\n')
    return _page("\n".join(parts))


def done_page() -> web.Response:
    return _page(
        "<p>Thank you. You may now close this window and return to the application.</p>\n"
        f"<script>\n{AUTH_DONE}\n</script>\n"
    )


def _stage(ctx: Context) -> str:
    stage = ctx.path_params["authType"]
    if stage not in STAGES:
        raise MatrixError(404, "M_UNRECOGNIZED", f"No fallback page for auth type {stage}")
    return stage


def _session_param(value: object) -> str:
    if value is None or value == "":
        raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: session")
    if not isinstance(value, str):
        raise MatrixError(400, "M_INVALID_PARAM", "session must be a string")
    return value


def auth_fallback_endpoints(uia: UserInteractiveAuth) -> list[Endpoint]:
    async def show(ctx: Context) -> web.StreamResponse:
        stage = _stage(ctx)
        session_id = _session_param(ctx.request.query.get("session"))
        session = await uia.fallback_session(session_id)
        if stage in session.completed:
            return done_page()
        if stage == PASSWORD and session.user_id is None:
            # As submitting would answer: no user's password can complete this session.
            raise MatrixError(400, "M_UNKNOWN", "This session has no user to check a password of")
        return form_page(stage, session_id, session.user_id, None)

    async def submit(ctx: Context) -> web.StreamResponse:
        stage = _stage(ctx)
        form = await ctx.request.post()
        session_id = _session_param(form.get("session", ctx.request.query.get("session")))
        session = await uia.fallback_session(session_id)
        auth: dict[str, object] = {"type": stage, "session": session_id}
        for name, _, _ in STAGES[stage][1]:
            value = form.get(name)
            if not isinstance(value, str):
                return form_page(stage, session_id, session.user_id, f"Missing field: {name}")
            auth[name] = value
        try:
            await uia.complete_out_of_band(session_id, stage, auth)
        except StageFailedError as e:
            return form_page(stage, session_id, session.user_id, e.message)
        return done_page()

    return [
        Endpoint("client.auth_fallback", "GET", PATH, "client", show),
        Endpoint(
            "client.auth_fallback_submit", "POST", PATH, "client", submit, rate_limit=LOGIN_ADDRESS
        ),
    ]
