"""Order confirmation through Slack buttons with the real ChatService and a subset of the demo catalog."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from channels.slack import blocks as ui
from tests.integration.slack.conftest import SlackHarness, mention

REPO = Path(__file__).resolve().parents[3]
ISBN = "0195153448"  # "Classical Mythology" - the first book of the demo catalog


@pytest.fixture
async def catalog(deps: Any, tmp_path: Path) -> Any:
    pytest.importorskip("tools.orders", reason="tools.orders is not built yet")
    pytest.importorskip("tools.catalog", reason="tools.catalog is not built yet")
    from memory.commerce.importer import import_books

    with gzip.open(REPO / "data" / "books" / "BX-Books.csv.gz", "rt", encoding="latin-1") as src:
        head = [next(src) for _ in range(201)]
    subset = tmp_path / "BX-Books-subset.csv"
    subset.write_text("".join(head), encoding="latin-1")
    report = await import_books(deps.db, subset, "bx")
    assert report.inserted >= 150, report.to_dict()
    return deps


async def _quote(slack: SlackHarness, user: str = "U100") -> dict[str, Any]:
    await slack.send_event(
        mention(f"I want to order 1 copy of ISBN {ISBN}", user=user, ts="1699999999.001000")
    )
    final = (await slack.fake.wait_for("chat.update"))[-1]
    actions = [b for b in final["blocks"] if b["type"] == "actions"]
    assert actions, f"expected a quote with buttons, got: {final['text']}"
    return final


async def test_confirm_button_places_the_order(slack: SlackHarness, catalog: Any, deps: Any) -> None:
    final = await _quote(slack)
    quote_id = next(e["value"] for b in final["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert await deps.db.fetch("SELECT * FROM orders") == []  # nothing is ordered before the click
    message = {
        "ts": final["ts"],
        "thread_ts": "1699999999.001000",
        "text": final["text"],
        "blocks": final["blocks"],
    }
    # someone else cannot confirm it
    resp = await slack.click(
        action_id=ui.CONFIRM_ACTION, value=quote_id, user="U200", channel="C100", message=message
    )
    assert resp.status_code == 200
    assert "Only <@U100>" in slack.fake.of("chat.postEphemeral")[-1]["text"]
    assert await deps.db.fetch("SELECT * FROM orders") == []
    # the asker can, once
    resp = await slack.click(
        action_id=ui.CONFIRM_ACTION, value=quote_id, user="U100", channel="C100", message=message
    )
    assert resp.status_code == 200
    orders = await deps.db.fetch("SELECT * FROM orders")
    assert len(orders) == 1 and orders[0]["principal"] == "employee:U100"
    stripped = [u for u in slack.fake.of("chat.update") if u["ts"] == final["ts"]][-1]
    assert not [b for b in stripped["blocks"] if b["type"] == "actions"]
    reply = slack.fake.of("chat.update")[-1]
    assert reply["ts"] != final["ts"] and "placed" in reply["text"]
    await slack.click(
        action_id=ui.CONFIRM_ACTION, value=quote_id, user="U100", channel="C100", message=message
    )
    assert len(await deps.db.fetch("SELECT * FROM orders")) == 1
    assert "already" in slack.fake.of("chat.postEphemeral")[-1]["text"]


async def test_cancel_button_places_nothing(slack: SlackHarness, catalog: Any, deps: Any) -> None:
    final = await _quote(slack)
    quote_id = next(e["value"] for b in final["blocks"] if b["type"] == "actions" for e in b["elements"])
    message = {
        "ts": final["ts"],
        "thread_ts": "1699999999.001000",
        "text": final["text"],
        "blocks": final["blocks"],
    }
    await slack.click(
        action_id=ui.CANCEL_ACTION, value=quote_id, user="U100", channel="C100", message=message
    )
    assert await deps.db.fetch("SELECT * FROM orders") == []
    assert len(slack.fake.of("chat.postMessage")) == 2  # the quote, then the reply to "no"
