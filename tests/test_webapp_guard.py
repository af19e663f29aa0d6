"""The dashboard server's guards (webapp/guard.py) over HTTP: Host header, body and field size limits,
payload types; every hostile request is a 4xx in bounded time, never a 500 or a traceback."""

from __future__ import annotations

import json
import logging
import time

import pytest

from tests.webapp_fixtures import build_store


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from webapp.app import create_app

    db = tmp_path_factory.mktemp("guard") / "r.db"
    build_store(db)
    app = create_app(db)
    return app, app.server.test_client()


def _call(client, inputs, output="ex-grid.getRowsResponse", state=()):
    payload = {"output": output, "outputs": {"id": output.split(".")[0], "property": output.split(".")[1]},
               "inputs": inputs, "state": list(state), "changedPropIds": []}
    return client.post("/_dash-update-component", json=payload)


@pytest.mark.parametrize("host,ok", [("localhost:8050", True), ("127.0.0.1:8050", True), ("[::1]:8050", True),
                                     ("evil.example:8050", False), ("evil.example", False), ("", False),
                                     ("127.0.0.1.evil.example", False)])
def test_host_header_must_name_the_bound_address(client, host, ok):
    _, c = client
    r = c.get("/", headers={"Host": host})
    assert (r.status_code == 200) == ok, (host, r.status_code)
    if not ok:
        assert r.status_code == 400


def test_host_check_follows_the_bound_address(tmp_path):
    from webapp.guard import allowed_hosts

    assert allowed_hosts("0.0.0.0") is None                       # every interface: nothing to check against
    assert allowed_hosts("192.168.1.5") == {"192.168.1.5"}
    assert "localhost" in allowed_hosts("127.0.0.1")


def test_body_over_the_limit_is_413_before_parsing(client):
    from webapp.guard import MAX_BODY_BYTES

    _, c = client
    t = time.process_time()
    r = c.post("/_dash-update-component", data=b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}",
               content_type="application/json")
    assert r.status_code == 413
    assert time.process_time() - t < 5


def test_a_megabyte_string_in_a_control_is_refused_fast(client):
    _, c = client
    t = time.process_time()
    r = _call(c, [{"id": "ex-grid", "property": "getRowsRequest",
                   "value": {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {"x": "a" * 1_000_000}}}])
    assert r.status_code == 413
    assert time.process_time() - t < 2


@pytest.mark.parametrize("value", [{"startRow": "a"}, {"startRow": 0, "endRow": -5}, {"sortModel": "x"},
                                   {"sortModel": [{"colId": 3}]}, {"filterModel": []}, "rows", 7, [1, 2]])
def test_wrong_typed_grid_request_is_400(client, value, caplog):
    _, c = client
    with caplog.at_level(logging.INFO):
        r = _call(c, [{"id": "ex-grid", "property": "getRowsRequest", "value": value}])
    assert r.status_code == 400, r.data[:300]
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"{}", b'{"output": "x", "inputs": 3}',
                                  b'{"output": "x", "inputs": [{"id": "nope", "property": "value", "value": 1}]}',
                                  b'{"output": "x", "inputs": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}'])
def test_malformed_callback_requests_are_400(client, body):
    _, c = client
    r = c.post("/_dash-update-component", data=body, content_type="application/json")
    assert r.status_code == 400, (body, r.status_code)


WRONG = [{"x": {"y": 1}}, "a", 12345, -1.5, True, ["a", {"b": 2}], None]


def test_every_callback_input_with_wrong_types_is_never_a_500(client, caplog):
    """Each registered callback called with each of its inputs given values of the wrong type: a 4xx
    (or an answer), never a 500, never a traceback, each in bounded CPU time."""
    app, c = client
    bad, n = [], 0
    with caplog.at_level(logging.INFO):
        for key, cb in app.callback_map.items():
            deps = cb.get("inputs", [])
            if not deps or not all(isinstance(d["id"], str) for d in deps):
                continue
            outputs = [o for o in key.strip(".").split("...")]
            for i in range(len(deps)):
                for w in WRONG:
                    inputs = [{"id": d["id"], "property": d["property"], "value": w if j == i else None}
                              for j, d in enumerate(deps)]
                    state = [{"id": s["id"], "property": s["property"], "value": None} for s in cb.get("state", [])
                             if isinstance(s["id"], str)]
                    payload = {"output": key, "outputs": [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]}
                                                          for o in outputs] if len(outputs) > 1 else
                               {"id": outputs[0].rsplit(".", 1)[0], "property": outputs[0].rsplit(".", 1)[1]},
                               "inputs": inputs, "state": state,
                               "changedPropIds": [f"{deps[i]['id']}.{deps[i]['property']}"]}
                    t = time.process_time()
                    r = c.post("/_dash-update-component", data=json.dumps(payload), content_type="application/json")
                    n += 1
                    if r.status_code >= 500 or time.process_time() - t > 10:
                        bad.append(f"{key} {deps[i]['id']}.{deps[i]['property']}={w!r}: {r.status_code}")
    assert n > 50
    assert not bad, "\n".join(bad[:20]) + f"\n({len(bad)} of {n})"
    assert "Traceback" not in caplog.text
