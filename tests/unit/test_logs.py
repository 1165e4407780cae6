from __future__ import annotations

import json
import logging

import pytest

from memory.logs import correlated, setup_logging


def test_json_logs_carry_correlation_id(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", json_logs=True)
    with correlated("abc123"):
        logging.getLogger("libromind.test").info("hello %s", "world", extra={"ms": 3})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    rec = json.loads(line)
    assert rec["message"] == "hello world"
    assert rec["correlation_id"] == "abc123"
    assert rec["level"] == "INFO" and rec["ms"] == 3
