"""The pages a person finds on the server besides the API: a landing page at `/`, a page per problem type at
`/problems/{slug}` (what a problem document's `type` points to), the AsyncAPI document at `/asyncapi.json` and a
page that renders it at `/asyncapi`.

These are documentation, not API operations: like `/docs` they are not in the OpenAPI document. The AsyncAPI page
is rendered here, on the server, from the bundled document: the AsyncAPI project's viewer is a React bundle from
npm, and `make run` installs only Python packages; a page of plain HTML, no script at all, renders every channel,
operation and message with its payload schema, offline, under the same content security policy as the other
documentation pages (no script may run on it).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from lexica.platform.docs import ASSETS_DIR, documentation_page
from lexica.platform.json_refs import follow
from lexica.platform.problem_types import PROBLEM_TYPES, ProblemType
from lexica.platform.problems import ProblemError

PROBLEMS_PATH = "/problems"
ASYNCAPI_JSON = "/asyncapi.json"
ASYNCAPI_PAGE = "/asyncapi"
FAVICON = ASSETS_DIR / "favicon.png"
# Documentation pages, not API operations (test_drift.py lets them be the only routes outside the spec).
PROBLEM_PAGE = PROBLEMS_PATH + "/{slug}"
FAVICON_PATH = "/favicon.ico"
PAGE_PATHS = frozenset({"/", PROBLEMS_PATH, PROBLEM_PAGE, ASYNCAPI_JSON, ASYNCAPI_PAGE, FAVICON_PATH})
_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}"
    "code,pre{font:14px/1.4 ui-monospace,monospace;background:#f4f4f4}pre{padding:.75rem;overflow-x:auto}"
    "h2{margin-top:2rem;border-bottom:1px solid #ddd}dt{font-weight:600}dd{margin:0 0 .75rem 1.5rem}"
    "section{margin-bottom:1.5rem}.action{font-weight:700;text-transform:uppercase;font-size:.8rem}"
)


def bundled_asyncapi() -> bytes:
    return (resources.files("lexica._generated") / "asyncapi.json").read_bytes()


def _page(title: str, body: str, *, cache: str = "no-cache") -> HTMLResponse:
    return documentation_page(title, f"<style>{_STYLE}</style>\n", body, cache=cache)


def _links(items: Iterable[tuple[str, str, str]]) -> str:
    rows = "".join(
        f'<li><a href="{html.escape(href)}">{html.escape(label)}</a>: {html.escape(what)}</li>\n'
        for href, label, what in items
    )
    return f"<ul>\n{rows}</ul>\n"


def landing_page(title: str, version: str, *, docs_enabled: bool) -> str:
    docs = (
        [
            ("/docs", "Swagger UI", "every operation, with “Try it out” against this server"),
            ("/redoc", "ReDoc", "the same reference, as one page"),
            (ASYNCAPI_PAGE, "Events", "the WebSocket and server-sent event messages (AsyncAPI)"),
        ]
        if docs_enabled
        else []
    )
    specs = [
        ("/openapi.json", "openapi.json", "the HTTP contract (OpenAPI 3.1)"),
        (ASYNCAPI_JSON, "asyncapi.json", "the event contract (AsyncAPI 3.0)"),
        (PROBLEMS_PATH, "Problem types", "what each error's `type` means and what to do about it"),
    ]
    health = [
        ("/health/live", "Liveness", "the process answers"),
        ("/health/ready", "Readiness", "storage answers and the dictionary is loaded"),
        ("/metrics", "Metrics", "Prometheus text format (admins only in production)"),
    ]
    sections = [("Documentation", docs), ("Contracts", specs), ("Health", health)]
    body = f"<h1>{html.escape(title)} <small>{html.escape(version)}</small></h1>\n"
    body += (
        '<p>A dictionary API over GCIDE. Try <a href="/api/v1/words/apple"><code>/api/v1/words/apple</code></a>.</p>\n'
    )
    for heading, items in sections:
        if items:
            body += f"<h2>{heading}</h2>\n{_links(items)}"
    return body


def problem_page(slug: str, problem: ProblemType) -> str:
    return (
        f"<h1>{html.escape(problem.title)}</h1>\n<p><code>type: {PROBLEMS_PATH}/{html.escape(slug)}</code> · "
        f"HTTP {html.escape(problem.status)}</p>\n<h2>What it means</h2>\n<p>{_inline(problem.meaning)}</p>\n"
        f"<h2>What to do</h2>\n<p>{_inline(problem.remedy)}</p>\n"
        "<p>Every problem document (RFC 9457, <code>application/problem+json</code>) also carries "
        "<code>request_id</code>, the <code>X-Request-ID</code> of the response: quote it when you report an error."
        f'</p>\n<p><a href="{PROBLEMS_PATH}">All problem types</a> · <a href="/">Home</a></p>\n'
    )


def problems_index() -> str:
    items = [
        (f"{PROBLEMS_PATH}/{slug}", slug, f"{problem.title} ({problem.status})")
        for slug, problem in PROBLEM_TYPES.items()
    ]
    return f'<h1>Problem types</h1>\n{_links(items)}<p><a href="/">Home</a></p>\n'


def _inline(text: str) -> str:
    """Escaped text with `code` spans."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))


def _paragraphs(text: str | None) -> str:
    if not text:
        return ""
    return "".join(f"<p>{_inline(block)}</p>\n" for block in text.strip().split("\n\n"))


class AsyncApiPage:
    """The AsyncAPI document as one HTML page: servers, channels, operations (with replies) and messages."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def _resolve(self, node: Any) -> tuple[Any, str | None]:
        return follow(self.document, node)

    def _expanded(self, node: Any, depth: int = 0) -> Any:
        """The schema with its references inlined (a reference deeper than a few levels is left as it is)."""
        if isinstance(node, Mapping):
            if "$ref" in node and depth < 6:
                return self._expanded(self._resolve(node)[0], depth + 1)
            return {key: self._expanded(value, depth) for key, value in node.items()}
        if isinstance(node, list):
            return [self._expanded(value, depth) for value in node]
        return node

    def _message_names(self, listed: Iterable[Any]) -> list[str]:
        return [name for _, name in (self._resolve(raw) for raw in listed) if name is not None]

    def render(self) -> str:
        info = self.document.get("info", {})
        title, version = html.escape(str(info.get("title", "Events"))), html.escape(str(info.get("version", "")))
        body = f"<h1>{title} <small>{version}</small></h1>\n{_paragraphs(info.get('description'))}"
        body += f'<p>The document: <a href="{ASYNCAPI_JSON}">{ASYNCAPI_JSON}</a> · <a href="/">Home</a></p>\n'
        body += "<h2>Channels</h2>\n"
        body += "".join(self._channel(name, channel) for name, channel in (self.document.get("channels") or {}).items())
        body += "<h2>Operations</h2>\n"
        operations = self.document.get("operations") or {}
        body += "".join(self._operation(name, operation) for name, operation in operations.items())
        body += "<h2>Messages</h2>\n"
        messages = (self.document.get("components") or {}).get("messages") or {}
        body += "".join(self._message(name, message) for name, message in messages.items())
        return body

    def _channel(self, name: str, channel: Mapping[str, Any]) -> str:
        address = html.escape(str(channel.get("address", "")))
        return (
            f'<section id="channel-{html.escape(name)}">'
            f"<h3>{html.escape(str(channel.get('title', name)))} <code>{address}</code></h3>\n"
            f"<p>{_inline(str(channel.get('summary', '')))}</p>\n{_paragraphs(channel.get('description'))}"
            f"<p>Messages: {_message_links(channel.get('messages') or {})}</p></section>\n"
        )

    def _operation(self, name: str, operation: Mapping[str, Any]) -> str:
        _, channel = self._resolve(operation.get("channel"))
        line = f'Channel: <a href="#channel-{html.escape(str(channel))}">{html.escape(str(channel))}</a>'
        line += f" · Messages: {_message_links(self._message_names(operation.get('messages') or []))}"
        reply = operation.get("reply")
        if isinstance(reply, Mapping):
            line += f" · Reply: {_message_links(self._message_names(reply.get('messages') or []))}"
        action = html.escape(str(operation.get("action")))
        return (
            f'<section id="operation-{html.escape(name)}"><h3><span class="action">{action}</span> '
            f"{html.escape(str(operation.get('title', name)))} <code>{html.escape(name)}</code></h3>\n"
            f"<p>{_inline(str(operation.get('summary', '')))}</p>\n<p>{line}</p></section>\n"
        )

    def _message(self, name: str, message: Mapping[str, Any]) -> str:
        payload = json.dumps(self._expanded(message.get("payload")), indent=2, ensure_ascii=False)
        examples = "".join(
            f"<p>Example: {html.escape(str(example.get('name', '')))}</p>\n<pre>"
            f"{html.escape(json.dumps(example.get('payload'), indent=2, ensure_ascii=False))}</pre>\n"
            for example in message.get("examples") or []
        )
        return (
            f'<section id="message-{html.escape(name)}"><h3>{html.escape(str(message.get("title", name)))} '
            f"<code>{html.escape(str(message.get('name', name)))}</code></h3>\n"
            f"<p>{_inline(str(message.get('summary', '')))}</p>\n{_paragraphs(message.get('description'))}"
            f"<p>Payload schema:</p>\n<pre>{html.escape(payload)}</pre>\n{examples}</section>\n"
        )


def _message_links(names: Iterable[str]) -> str:
    return ", ".join(f'<a href="#message-{html.escape(name)}">{html.escape(name)}</a>' for name in names)


def mount_pages(app: FastAPI, *, docs_enabled: bool) -> None:
    title = app.title
    landing = landing_page(title, app.version, docs_enabled=docs_enabled)
    asyncapi = bundled_asyncapi()
    asyncapi_page = AsyncApiPage(json.loads(asyncapi)).render() if docs_enabled else ""
    index = problems_index()

    async def home(_: Request) -> HTMLResponse:
        return _page(title, landing)

    async def problems(_: Request) -> HTMLResponse:
        return _page("Problem types", index, cache="public, max-age=3600")

    async def problem(request: Request) -> HTMLResponse:
        slug = request.path_params["slug"]
        found = PROBLEM_TYPES.get(slug)
        if found is None:
            raise ProblemError(404, f"There is no problem type {slug!r}; {PROBLEMS_PATH} lists them.")
        return _page(found.title, problem_page(slug, found), cache="public, max-age=3600")

    async def asyncapi_json(_: Request) -> Response:
        return Response(asyncapi, media_type="application/json", headers={"Cache-Control": "public, max-age=300"})

    async def asyncapi_html(_: Request) -> HTMLResponse:
        return _page(f"{title} events", asyncapi_page)

    async def favicon(_: Request) -> Response:  # browsers ask for it on every page
        return FileResponse(FAVICON, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})

    app.add_route("/", home, methods=["GET"], include_in_schema=False)
    app.add_route(PROBLEMS_PATH, problems, methods=["GET"], include_in_schema=False)
    app.add_route(PROBLEM_PAGE, problem, methods=["GET"], include_in_schema=False)
    app.add_route(ASYNCAPI_JSON, asyncapi_json, methods=["GET"], include_in_schema=False)
    app.add_route(FAVICON_PATH, favicon, methods=["GET"], include_in_schema=False)
    if docs_enabled:
        app.add_route(ASYNCAPI_PAGE, asyncapi_html, methods=["GET"], include_in_schema=False)
