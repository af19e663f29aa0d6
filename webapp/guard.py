"""Request guards for the dashboard's Flask server, installed by ``create_app``.

The dashboard has no authentication and listens on 127.0.0.1 by default, so the guards keep a web page
in the user's browser (DNS rebinding) or a careless client from reaching or stalling it:

* the Host header must name the address the server is bound to (a loopback server answers only to
  ``localhost``, ``127.0.0.1`` and ``[::1]``); any other is 400, so a rebinding page cannot read it;
* a request body is at most MAX_BODY_BYTES (413 before it is parsed);
* a callback request must be JSON of the shape Dash sends, name only registered inputs, and each value
  is bounded (strings at most MAX_STRING characters, MAX_NODES values, MAX_DEPTH levels) and of the
  type its property takes: a wrong type is 400, never a callback traceback. These bounds are also
  what bounds a request's CPU: no callback sees a value it would take seconds to parse or filter;
* an exception a callback still raises is one log line and a 400, not a traceback.
"""

from __future__ import annotations

import json
import logging
from typing import Any

MAX_BODY_BYTES = 16 << 20    # the largest legitimate body is a parallel-coordinates figure of a big store
MAX_STRING = 10_000          # any single string in a callback payload (labels, searches, URLs are far shorter)
MAX_NODES = 2_000_000
MAX_DEPTH = 32
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WILDCARD = {"0.0.0.0", "::", ""}

log = logging.getLogger("hwsim.dashboard")

_NUM = (int, float)
# property -> the JSON types its value may have (None is always allowed: an unset property)
PROP_TYPES: dict[str, tuple[type, ...]] = {
    "n_clicks": (int,), "n_intervals": (int,), "active_tab": (str,), "search": (str,), "pathname": (str,),
    "is_open": (bool,), "value": (str, int, float, bool, list), "search_value": (str,),
    "selectedRows": (list,), "cellClicked": (dict,), "clickData": (dict,), "selectedData": (dict,),
    "restyleData": (list,), "getRowsRequest": (dict,), "options": (list,), "columnDefs": (list,),
    "figure": (dict,), "id": (str, dict),
}


class Rejected(Exception):
    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status, self.why = status, why


def allowed_hosts(host: str) -> set[str] | None:
    """Host-header names a server bound to ``host`` answers to; None: any (bound to every interface)."""
    h = host.strip("[]")
    if h in WILDCARD:
        return None
    return (LOOPBACK | {h}) if h in LOOPBACK else {h}


def host_name(header: str) -> str:
    """``example.org:8050`` -> ``example.org``; ``[::1]:8050`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _bounded(v: Any, depth: int = 0, count: list[int] | None = None) -> None:
    count = count if count is not None else [0]
    count[0] += 1
    if count[0] > MAX_NODES:
        raise Rejected(413, f"payload has more than {MAX_NODES:,} values")
    if depth > MAX_DEPTH:
        raise Rejected(400, f"payload nested deeper than {MAX_DEPTH} levels")
    if isinstance(v, str):
        if len(v) > MAX_STRING:
            raise Rejected(413, f"a string of {len(v):,} characters (at most {MAX_STRING:,})")
    elif isinstance(v, list):
        for x in v:
            _bounded(x, depth + 1, count)
    elif isinstance(v, dict):
        for k, x in v.items():
            _bounded(k, depth + 1, count)
            _bounded(x, depth + 1, count)


def _check_grid_request(v: dict) -> None:
    """ag-grid's infinite-model request: row numbers and sort/filter models of the right types."""
    for k in ("startRow", "endRow"):
        if k in v and (isinstance(v[k], bool) or not isinstance(v[k], int) or not 0 <= v[k] <= 10**9):
            raise Rejected(400, f"getRowsRequest.{k} must be a row number")
    if not isinstance(v.get("sortModel", []), list) or not all(
            isinstance(s, dict) and isinstance(s.get("colId"), str) and s.get("sort") in ("asc", "desc", None)
            for s in v.get("sortModel", [])):
        raise Rejected(400, "getRowsRequest.sortModel must be a list of {colId, sort}")
    if not isinstance(v.get("filterModel", {}), dict):
        raise Rejected(400, "getRowsRequest.filterModel must be a mapping")


def check_callback_body(body: Any, known: set[tuple[str, str]]) -> None:
    """Raise Rejected unless ``body`` is a Dash callback request naming ``known`` (id, property) pairs
    with bounded values of their properties' types."""
    if not isinstance(body, dict):
        raise Rejected(400, "callback request must be a JSON object")
    _bounded(body)
    if not isinstance(body.get("output"), str):
        raise Rejected(400, "callback request lacks its output")
    for part in ("inputs", "state"):
        items = body.get(part, [])
        if not isinstance(items, list):
            raise Rejected(400, f"{part} must be a list")
        for item in items:
            for it in (item if isinstance(item, list) else [item]):   # pattern-matching inputs come as lists
                if not isinstance(it, dict) or not isinstance(it.get("property"), str) or \
                        not isinstance(it.get("id"), (str, dict)):
                    raise Rejected(400, f"each of {part} must be {{id, property, value}}")
                key = it["id"] if isinstance(it["id"], str) else json.dumps(sorted(it["id"]))
                if isinstance(it["id"], str) and (key, it["property"]) not in known:
                    raise Rejected(400, f"unknown callback input {key}.{it['property']}")
                v = it.get("value")
                # a pattern-matching id (ALL, MATCH) carries a list of its matches' values
                types = PROP_TYPES.get(it["property"]) if isinstance(it["id"], str) else None
                if v is not None and types is not None and (not isinstance(v, types) or
                                                            (isinstance(v, bool) and bool not in types)):
                    raise Rejected(400, f"{key}.{it['property']}: a {type(v).__name__} is not a valid value")
                if it["property"] == "getRowsRequest" and isinstance(v, dict):
                    _check_grid_request(v)


def _known_inputs(app: Any) -> set[tuple[str, str]]:
    known: set[tuple[str, str]] = set()
    for cb in app.callback_map.values():
        for dep in [*cb.get("inputs", []), *cb.get("state", [])]:
            if isinstance(dep.get("id"), str):
                known.add((dep["id"], dep["property"]))
    return known


def install(app: Any, host: str = "127.0.0.1") -> None:
    """Hook the guards into ``app.server`` (a Flask app)."""
    from flask import request
    from werkzeug.exceptions import HTTPException

    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    hosts = allowed_hosts(host)
    known: set[tuple[str, str]] = set()

    def reply(status: int, why: str) -> tuple[str, int, dict[str, str]]:
        log.warning("refused %s %s: %s", request.method, request.path[:200], why)
        return why + "\n", status, {"Content-Type": "text/plain; charset=utf-8"}

    @server.before_request
    def guard() -> Any:
        if hosts is not None and host_name(request.headers.get("Host", "")) not in hosts:
            return reply(400, "Host header does not name this server")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return reply(413, f"request body over {MAX_BODY_BYTES >> 20} MiB")
        if request.method == "POST" and request.path.endswith("/_dash-update-component"):
            if not known:
                known.update(_known_inputs(app))
            try:
                body = json.loads(request.get_data(cache=True) or b"null")
            except (ValueError, UnicodeDecodeError):
                return reply(400, "callback request is not JSON")
            except HTTPException as e:   # over MAX_CONTENT_LENGTH while streaming
                return reply(e.code or 413, e.description or "request refused")
            try:
                check_callback_body(body, known)
            except Rejected as e:
                return reply(e.status, e.why)
        return None

    @server.errorhandler(Exception)
    def contained(e: Exception) -> Any:
        if isinstance(e, HTTPException):
            return e
        # a callback that still fails on odd input: one log line and a 400, never a traceback page
        what = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        if request.path.endswith("/_dash-update-component"):
            return reply(400, f"callback failed on this input: {what}")
        return reply(500, f"internal error: {what}")
