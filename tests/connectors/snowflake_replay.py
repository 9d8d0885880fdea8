"""A loopback endpoint replaying recorded Snowflake REST answers, for paths fakesnow cannot show.

The real snowflake-connector-python talks to it over `protocol='http'`. It answers the login with a session id (which
fakesnow lacks), and queries by their text:
- `SYSTEM$CANCEL_ALL_QUERIES(?)` records the bound session id and releases the statement that is waiting;
- a statement containing `WAIT_FOR_CANCEL` blocks until that cancel arrives, then fails as Snowflake does:
  code 000604 "SQL execution canceled" (SQLSTATE 57014);
- a statement containing `HIT_STATEMENT_TIMEOUT` fails as Snowflake does at STATEMENT_TIMEOUT_IN_SECONDS:
  code 000630 "Statement reached its statement or warehouse timeout of 1 second(s) and was canceled.";
- a statement whose exact text is a key of `results` returns those recorded columns and rows (text columns, as
  SHOW commands return them); one whose text is in `refusals` fails with that (code, sqlstate, message);
- anything else returns one row, `1`.
Every query request body is kept, so tests can check what the connector sent (statement parameters, bindings).
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

SESSION_ID = 4242424242

_ROWTYPE = [{"name": "X", "database": "", "schema": "", "table": "", "nullable": True, "type": "fixed",
             "byteLength": None, "length": None, "scale": 0, "precision": 38, "collation": None}]


def _error(code: str, sqlstate: str, message: str) -> dict[str, Any]:
    return {"data": {"errorCode": code, "sqlState": sqlstate, "queryId": "01replay-q"}, "code": code, "message": message, "success": False}


class ReplaySnowflake:
    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []
        self.cancel_bindings: list[Any] = []
        self.canceled = threading.Event()
        self.results: dict[str, tuple[list[str], list[list[str | None]]]] = {}
        self.refusals: dict[str, tuple[str, str, str]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def _answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path.startswith("/session/v1/login-request"):
            return {"data": {"token": "replay-token", "masterToken": "replay-master", "sessionId": SESSION_ID,
                             "serverVersion": "9.99.0", "parameters": [], "sessionInfo": {}}, "success": True}
        if path.startswith("/queries/v1/query-request"):
            self.queries.append(body)
            sql = body.get("sqlText", "")
            if "SYSTEM$CANCEL_ALL_QUERIES" in sql.upper():
                self.cancel_bindings.append(body.get("bindings"))
                self.canceled.set()
                return self._row()
            if "WAIT_FOR_CANCEL" in sql:
                if self.canceled.wait(10):
                    return _error("000604", "57014", "SQL execution canceled")
                return self._row()
            if sql in self.refusals:
                return _error(*self.refusals[sql])
            if sql in self.results:
                return self._table(*self.results[sql])
            if "HIT_STATEMENT_TIMEOUT" in sql:
                return _error("000630", "57014", "Statement reached its statement or warehouse timeout of 1 second(s) and was canceled.")
            return self._row()
        return {"data": None, "success": True}

    @staticmethod
    def _row() -> dict[str, Any]:
        return {"data": {"parameters": [], "rowtype": _ROWTYPE, "rowset": [["1"]], "total": 1, "returned": 1,
                         "queryId": "01replay-q", "queryResultFormat": "json"}, "success": True}

    @staticmethod
    def _table(columns: list[str], rows: list[list[str | None]]) -> dict[str, Any]:
        rowtype = [{"name": name, "database": "", "schema": "", "table": "", "nullable": True, "type": "text",
                    "byteLength": 16777216, "length": 16777216, "scale": None, "precision": None, "collation": None}
                   for name in columns]
        return {"data": {"parameters": [], "rowtype": rowtype, "rowset": rows, "total": len(rows), "returned": len(rows),
                         "queryId": "01replay-q", "queryResultFormat": "json"}, "success": True}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                data = json.dumps(replay._answer(self.path, body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture()
def replay_snowflake() -> Iterator[ReplaySnowflake]:
    replay = ReplaySnowflake()
    thread = threading.Thread(target=replay.server.serve_forever, daemon=True)
    thread.start()
    yield replay
    replay.canceled.set()
    replay.server.shutdown()
    replay.server.server_close()
