"""A recording fake for opensearch-py: a custom ``connection_class`` that keeps every request and
answers from canned responses (no server, no network)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy._async.http_aiohttp import AsyncConnection


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]
    body: Any


@dataclass
class Recorder:
    requests: list[Request] = field(default_factory=list)
    # (method, path regex) -> list of (status, json body) served in order (the last one repeats)
    routes: list[tuple[str, str, list[tuple[int, Any]]]] = field(default_factory=list)

    def on(self, method: str, path_re: str, *responses: tuple[int, Any]) -> None:
        self.routes.insert(0, (method, path_re, list(responses)))

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        for m, pattern, responses in self.routes:
            if m == method and re.fullmatch(pattern, path):
                return responses.pop(0) if len(responses) > 1 else responses[0]
        if path.endswith("/_bulk"):
            n = (
                sum(1 for line in body if "index" in line or "delete" in line)
                if isinstance(body, list)
                else 0
            )
            return 200, {
                "took": 1,
                "errors": False,
                "items": [{"index": {"status": 201, "_id": str(i)}} for i in range(n)],
            }
        if method == "HEAD":
            return 404, {}
        return 200, {"acknowledged": True}

    def find(self, method: str, path_re: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(path_re, r.path)]


def _decode(body: Any) -> Any:
    if body is None:
        return None
    text = body.decode() if isinstance(body, bytes) else body
    try:
        return json.loads(text)
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


class RecordingConnection(AsyncConnection):
    def __init__(
        self,
        host: str = "localhost",
        port: int | None = None,
        recorder: Recorder | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(host=host, port=port, **kwargs)
        self.recorder = recorder or Recorder()

    async def perform_request(
        self,
        method: str,
        url: str,
        params: Any = None,
        body: Any = None,
        timeout: Any = None,  # noqa: ASYNC109 - the opensearch-py signature
        ignore: Any = (),
        headers: Any = None,
    ) -> Any:
        decoded = _decode(body)
        plain = {k: v.decode() if isinstance(v, bytes) else v for k, v in (params or {}).items()}
        self.recorder.requests.append(Request(method, url, plain, decoded))
        status, payload = self.recorder.answer(method, url, decoded)
        raw = json.dumps(payload)
        if not (200 <= status < 300) and status not in ignore:
            self._raise_error(status, raw)
        return status, {"content-type": "application/json"}, raw

    async def close(self) -> None:
        return None


def fake_client(recorder: Recorder) -> AsyncOpenSearch:
    return AsyncOpenSearch(
        hosts=["http://fake-opensearch:9200"], connection_class=RecordingConnection, recorder=recorder
    )
