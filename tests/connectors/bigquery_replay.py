"""A loopback endpoint replaying BigQuery's REST answers for a long job, for paths crucible cannot show.

crucible finishes every query inside jobs.insert; real BigQuery returns a RUNNING job and the client long-polls
`jobs.getQueryResults` until it completes. This endpoint does that for a statement containing `WAIT_FOR_CANCEL`:
the job stays RUNNING until `jobs.cancel` arrives, then ends DONE with BigQuery's documented errorResult for a
canceled job (reason `stopped`, "Job execution was cancelled: User requested cancellation"). A statement containing
`HIT_JOB_TIMEOUT` ends with reason `timeout` ("Job timed out after 1 sec"), as BigQuery does at job_timeout_ms.
Other statements complete at once with one row. Inserted job bodies and cancel calls are kept for assertions.

For the role check it also serves `datasets` ({dataset: {"access": [access entries], "tables": {table: [the
permissions tables.testIamPermissions answers]}}}): datasets.list, datasets.get, tables.list and
tables.testIamPermissions (which returns the subset of the asked permissions the table holds, as BigQuery does).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlparse

import pytest

_JOBS = re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/jobs$")
_JOB = re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/jobs/(?P<job>[^/]+)$")
_CANCEL = re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/jobs/(?P<job>[^/]+)/cancel$")
_DATASETS = re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/datasets$")
_DATASET = re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/datasets/(?P<dataset>[^/]+)$")
_TABLES = re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/datasets/(?P<dataset>[^/]+)/tables$")
_TEST_IAM = re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/datasets/(?P<dataset>[^/]+)/tables/(?P<table>[^/:]+):testIamPermissions$")
_RESULTS = re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/queries/(?P<job>[^/]+)$")

CANCELED = {"reason": "stopped", "message": "Job execution was cancelled: User requested cancellation"}
TIMED_OUT = {"reason": "timeout", "message": "Job timed out after 1 sec"}


class ReplayBigQuery:
    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.inserted: list[dict[str, Any]] = []
        self.cancels: list[str] = []
        self.datasets: dict[str, dict[str, Any]] = {}
        self.permission_checks: list[str] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _resource(self, project: str, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        status: dict[str, Any] = {"state": job["state"]}
        if job.get("error"):
            status["errorResult"] = job["error"]
            status["errors"] = [job["error"]]
        return {"kind": "bigquery#job", "id": f"{project}:US.{job_id}", "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
                "configuration": job["configuration"], "status": status, "statistics": {"creationTime": "1700000000000"}}

    def _results(self, project: str, job_id: str, timeout_ms: int) -> tuple[int, dict[str, Any]]:
        job = self.jobs[job_id]
        if job["state"] != "DONE":
            job["done"].wait(min(timeout_ms, 2000) / 1000)
        ref = {"projectId": project, "jobId": job_id, "location": "US"}
        if job["state"] != "DONE":
            return 200, {"kind": "bigquery#getQueryResultsResponse", "jobReference": ref, "jobComplete": False}
        if job.get("error"):
            err = job["error"]
            return 400, {"error": {"code": 400, "message": err["message"], "errors": [{**err, "domain": "global"}], "status": "INVALID_ARGUMENT"}}
        return 200, {"kind": "bigquery#getQueryResultsResponse", "jobReference": ref, "jobComplete": True, "totalRows": "1",
                     "schema": {"fields": [{"name": "x", "type": "INTEGER", "mode": "NULLABLE"}]}, "rows": [{"f": [{"v": "1"}]}]}

    def handle(self, method: str, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parsed = urlparse(url)
        path, query = parsed.path, parse_qs(parsed.query)
        with self.lock:
            if method == "POST" and (m := _JOBS.match(path)):
                job_id = body["jobReference"]["jobId"]
                sql = body["configuration"]["query"]["query"]
                self.inserted.append(body)
                job = {"configuration": body["configuration"], "state": "RUNNING", "done": threading.Event()}
                if "HIT_JOB_TIMEOUT" in sql:
                    job.update(state="DONE", error=TIMED_OUT)
                elif "WAIT_FOR_CANCEL" not in sql:
                    job["state"] = "DONE"
                self.jobs[job_id] = job
                return 200, self._resource(m["project"], job_id)
            if method == "POST" and (m := _CANCEL.match(path)):
                self.cancels.append(m["job"])
                job = self.jobs.get(m["job"])
                if job is None:
                    return 404, {"error": {"code": 404, "message": f"Not found: Job {m['job']}", "errors": [{"reason": "notFound"}]}}
                if job["state"] != "DONE":
                    job.update(state="DONE", error=CANCELED)
                    job["done"].set()
                return 200, {"kind": "bigquery#jobCancelResponse", "job": self._resource(m["project"], m["job"])}
            if method == "GET" and (m := _JOB.match(path)):
                return 200, self._resource(m["project"], m["job"])
        if method == "GET" and (m := _DATASETS.match(path)):
            return 200, {"kind": "bigquery#datasetList", "datasets": [
                {"kind": "bigquery#dataset", "id": f"{m['project']}:{d}", "datasetReference": {"projectId": m["project"], "datasetId": d}}
                for d in self.datasets]}
        if method == "GET" and (m := _DATASET.match(path)) and m["dataset"] in self.datasets:
            return 200, {"kind": "bigquery#dataset", "id": f"{m['project']}:{m['dataset']}",
                         "datasetReference": {"projectId": m["project"], "datasetId": m["dataset"]},
                         "access": self.datasets[m["dataset"]].get("access", [])}
        if method == "GET" and (m := _TABLES.match(path)) and m["dataset"] in self.datasets:
            return 200, {"kind": "bigquery#tableList", "tables": [
                {"kind": "bigquery#table", "id": f"{m['project']}:{m['dataset']}.{t}", "type": "TABLE",
                 "tableReference": {"projectId": m["project"], "datasetId": m["dataset"], "tableId": t}}
                for t in self.datasets[m["dataset"]]["tables"]]}
        if method == "POST" and (m := _TEST_IAM.match(path)) and m["dataset"] in self.datasets:
            self.permission_checks.append(f"{m['dataset']}.{m['table']}")
            holds = self.datasets[m["dataset"]]["tables"].get(m["table"], [])
            return 200, {"permissions": [p for p in body.get("permissions", []) if p in holds]}
        if method == "GET" and (m := _RESULTS.match(path)):
            return self._results(m["project"], m["job"], int(query.get("timeoutMs", ["10000"])[0]))
        return 404, {"error": {"code": 404, "message": f"replay has no {method} {path}", "errors": [{"reason": "notFound"}]}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = replay.handle(method, self.path, json.loads(raw) if raw else {})
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture()
def replay_bigquery() -> Iterator[ReplayBigQuery]:
    replay = ReplayBigQuery()
    threading.Thread(target=replay.server.serve_forever, daemon=True).start()
    yield replay
    for job in replay.jobs.values():
        job["done"].set()
    replay.server.shutdown()
    replay.server.server_close()
