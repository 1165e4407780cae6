"""The chat widget in real headless Chromium against the real app (SSE, citations, cart, order confirmation,
feedback, keyboard use, narrow screens, CORS). Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from channels.web.deps import read_session_token
from memory.settings import Settings
from tests.integration.web.conftest import SECRET, HostSite, WebServer, host_page

pytestmark = pytest.mark.browser

DOCS_QUESTION = "What priority must the perl-base package have, and must it be marked essential?"


def ask(page: Any, text: str, *, timeout: float = 90_000) -> Any:
    """Type a message, send it with Enter and wait until the streamed reply is complete."""
    bots = page.locator(".lm-bot")
    before = bots.count()
    box = page.locator("textarea.lm-input")
    box.fill(text)
    box.press("Enter")
    return wait_reply(page, before, timeout=timeout)


def wait_reply(page: Any, before: int, *, timeout: float = 90_000) -> Any:
    bots = page.locator(".lm-bot")
    expect(bots).to_have_count(before + 1, timeout=timeout)
    expect(page.locator(".lm-bot.lm-pending")).to_have_count(0, timeout=timeout)
    return bots.nth(before)  # pinned: `.last` would follow newer messages


def principal_of(page: Any, api: str) -> str:
    token = page.evaluate("k => localStorage.getItem(k)", f"libromind.session:{api}")
    assert token, "the widget did not keep its session token"
    settings = Settings(session_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    return read_session_token(settings, token).key


def shadow_focus(page: Any) -> dict[str, str]:
    """What has keyboard focus, looking through the widget's shadow root."""
    return page.evaluate("""() => {
        let a = document.activeElement;
        while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
        return {tag: a ? a.tagName.toLowerCase() : '', cls: a ? String(a.className) : '',
                label: a ? (a.getAttribute('aria-label') || a.textContent || '') : ''};
    }""")


def find_king_book(server: WebServer) -> dict[str, Any]:
    rows = server.query(
        "SELECT isbn13, title FROM books WHERE author = 'Stephen King' AND stock > 0 ORDER BY title LIMIT 1"
    )
    assert rows, "the test catalog has no Stephen King books"
    return rows[0]


def test_docs_question_streams_answer_with_clickable_citations(
    browser: Any, web_server: WebServer, artifacts: Path
) -> None:
    page = browser.new_page()
    page.goto(web_server.base_url + "/")
    reply = ask(page, DOCS_QUESTION)
    expect(reply.locator(".lm-text")).to_contain_text(re.compile("required|essential", re.I))
    cites = reply.locator(".lm-cite")
    expect(cites.first).to_be_visible()
    assert "ch-perl.html" in " ".join(cites.all_inner_texts())
    first = cites.first
    expect(first).to_have_attribute("aria-expanded", "false")
    first.click()
    expect(first).to_have_attribute("aria-expanded", "true")
    snippet = reply.locator(".lm-snippet").first
    expect(snippet).to_be_visible()
    assert len(snippet.inner_text().strip()) > 20
    assert reply.get_attribute("data-answer-id")
    page.screenshot(path=str(artifacts / "docs_citations.png"), full_page=True)


def test_thumbs_up_is_recorded_in_the_database(browser: Any, web_server: WebServer) -> None:
    page = browser.new_page()
    page.goto(web_server.base_url + "/")
    reply = ask(page, DOCS_QUESTION)
    answer_id = reply.get_attribute("data-answer-id")
    assert answer_id
    up = reply.locator("button.lm-up")
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(reply.locator(".lm-thanks")).to_have_text("Thanks for your feedback.")
    rows = web_server.query("SELECT principal, score, channel FROM feedback WHERE answer_id = %s", answer_id)
    assert rows == [{"principal": principal_of(page, web_server.base_url), "score": 1, "channel": "web"}]


def test_find_books_and_add_one_to_the_cart(browser: Any, web_server: WebServer, artifacts: Path) -> None:
    page = browser.new_page()
    page.goto(web_server.base_url + "/")
    reply = ask(page, "find books by Stephen King")
    books = reply.locator(".lm-book")
    expect(books.first).to_be_visible()
    assert books.count() >= 2
    isbn = books.first.get_attribute("data-isbn")
    assert isbn
    page.screenshot(path=str(artifacts / "catalog_search.png"), full_page=True)
    before = page.locator(".lm-bot").count()
    books.first.get_by_role("button", name=re.compile("^Add .* to cart$")).click()
    added = wait_reply(page, before)
    expect(added.locator(".lm-text")).to_contain_text("to your cart")
    principal = principal_of(page, web_server.base_url)
    rows = web_server.query("SELECT isbn13, quantity FROM cart_items WHERE principal = %s", principal)
    assert [r["quantity"] for r in rows if r["isbn13"] == isbn or isbn in r["isbn13"]] == [1], rows
    expect(added.get_by_role("button", name="Check out")).to_be_visible()


def test_order_is_placed_only_after_confirm(browser: Any, web_server: WebServer, artifacts: Path) -> None:
    book = find_king_book(web_server)
    page = browser.new_page()
    page.goto(web_server.base_url + "/")
    # first quote: cancelled -> no order
    reply = ask(page, f"I want to buy {book['isbn13']}")
    quote = reply.locator(".lm-quote")
    expect(quote).to_be_visible()
    expect(quote).to_contain_text(book["title"])
    principal = principal_of(page, web_server.base_url)
    assert web_server.query("SELECT id FROM orders WHERE principal = %s", principal) == []
    page.screenshot(path=str(artifacts / "order_quote.png"), full_page=True)
    before = page.locator(".lm-bot").count()
    quote.get_by_role("button", name="Cancel").click()
    wait_reply(page, before)
    assert web_server.query("SELECT id FROM orders WHERE principal = %s", principal) == []
    # second quote: confirmed -> exactly one order with that book
    reply = ask(page, f"I want to buy {book['isbn13']}")
    quote = reply.locator(".lm-quote")
    expect(quote).to_be_visible()
    assert web_server.query("SELECT id FROM orders WHERE principal = %s", principal) == []
    before = page.locator(".lm-bot").count()
    quote.get_by_role("button", name="Confirm order").click()
    done = wait_reply(page, before)
    expect(done.locator(".lm-text")).to_contain_text("Your order")
    expect(quote.get_by_role("button", name="Confirm order")).to_be_disabled()
    orders = web_server.query(
        "SELECT o.id, o.status, i.isbn13 FROM orders o JOIN order_items i ON i.order_id = o.id"
        " WHERE o.principal = %s",
        principal,
    )
    assert len(orders) == 1 and orders[0]["status"] == "placed" and orders[0]["isbn13"] == book["isbn13"]
    page.screenshot(path=str(artifacts / "order_placed.png"), full_page=True)
    expect(done.locator(".lm-order")).to_have_attribute("data-order-id", orders[0]["id"])
    expect(done.locator(".lm-text")).to_contain_text(orders[0]["id"])


def test_keyboard_only_on_an_embedding_page(
    browser: Any, web_server: WebServer, host_sites: dict[str, HostSite], artifacts: Path
) -> None:
    page = browser.new_page()
    page.goto(host_sites["shop"].put("/blog", host_page(web_server.base_url)))
    launcher = page.locator("button.lm-launcher")
    expect(launcher).to_be_visible()  # the host page hides its own buttons; ours live in a shadow root
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "first-link"
    page.keyboard.press("Tab")
    assert "lm-launcher" in shadow_focus(page)["cls"]
    page.keyboard.press("Enter")
    expect(page.locator(".lm-panel")).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    assert shadow_focus(page)["tag"] == "textarea"
    before = page.locator(".lm-bot").count()
    page.keyboard.type(DOCS_QUESTION)
    page.keyboard.press("Enter")
    reply = wait_reply(page, before)
    expect(page.locator("[role=status]")).to_contain_text("Assistant:")
    # Shift+Tab from the composer walks back into the last answer: 👎, then 👍
    page.keyboard.press("Shift+Tab")
    assert "lm-down" in shadow_focus(page)["cls"]
    page.keyboard.press("Shift+Tab")
    assert "lm-up" in shadow_focus(page)["cls"]
    page.keyboard.press("Enter")
    expect(reply.locator("button.lm-up")).to_have_attribute("aria-pressed", "true")
    # ... and on to the citations, which open with the keyboard
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        if "lm-cite" in shadow_focus(page)["cls"]:
            break
    assert "lm-cite" in shadow_focus(page)["cls"]
    page.keyboard.press("Space")
    expect(reply.locator(".lm-snippet:visible")).to_have_count(1)
    page.screenshot(path=str(artifacts / "keyboard_embedded.png"))
    page.keyboard.press("Escape")
    expect(page.locator(".lm-panel")).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert "lm-launcher" in shadow_focus(page)["cls"]


def test_narrow_viewport_360(
    browser: Any, web_server: WebServer, host_sites: dict[str, HostSite], artifacts: Path
) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": 360, "height": 640})
    page.goto(host_sites["shop"].put("/blog", host_page(web_server.base_url)))
    page.locator("button.lm-launcher").click()
    panel = page.locator(".lm-panel")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box and box["x"] == 0 and box["y"] == 0 and box["width"] == 360 and box["height"] == 640, box
    reply = ask(page, DOCS_QUESTION)
    expect(reply.locator(".lm-cite").first).to_be_visible()
    for el in (
        reply,
        reply.locator(".lm-feedback"),
        page.locator("button.lm-send"),
        page.locator("button.lm-close"),
    ):
        b = el.bounding_box()
        assert b and b["x"] >= 0 and b["x"] + b["width"] <= 360, b
    assert page.locator(".lm-log").evaluate("e => e.scrollWidth <= e.clientWidth")
    page.screenshot(path=str(artifacts / "narrow_360x640_bubble.png"))
    # the full-page chat at / on the same narrow screen
    page.goto(web_server.base_url + "/")
    ask(page, "find books by Stephen King")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(artifacts / "narrow_360x640_page.png"))


def test_disallowed_origin_gets_no_cors_and_a_clear_message(
    browser: Any, web_server: WebServer, host_sites: dict[str, HostSite]
) -> None:
    page = browser.new_page()
    page.goto(host_sites["evil"].put("/blog", host_page(web_server.base_url)))
    page.locator("button.lm-launcher").click()
    reply = ask(page, "hello")
    expect(reply).to_have_class(re.compile("lm-error"))
    expect(reply.locator(".lm-text")).to_contain_text("Could not reach the assistant")


def _sse_body(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n" for name, data in events)


def test_widget_renders_books_quote_and_sends_confirm_stubbed(browser: Any, web_server: WebServer) -> None:
    """The widget's rendering of a catalog listing and an order quote, with /v1/chat stubbed in the browser
    (independent of the catalog data): Add to cart and Confirm send the agent the documented messages."""
    listing = (
        "Here is what I found in the catalog:\n"
        "1. Misery by Stephen King, 1988 (ISBN 9780451153555): $7.99, in stock\n"
        "2. Carrie by Stephen King, 1975 (ISBN 9780385086950): $6.99, out of stock"
    )
    quote = {
        "quote_id": "q_1",
        "items": [
            {
                "isbn": "9780451153555",
                "title": "Misery",
                "quantity": 2,
                "unit_price_cents": 799,
                "line_total_cents": 1598,
            }
        ],
        "total_cents": 1598,
        "currency": "USD",
        "demo_price": True,
    }
    sent: list[str] = []

    def reply_for(message: str) -> str:
        meta = {
            "thread": "t",
            "cache_hit": False,
            "latency_ms": 1,
            "steps": ["catalog", "answer"],
            "answer_id": None,
        }
        if message == "find books by Stephen King":
            final = {
                "answer": listing,
                "citations": [],
                "meta": meta,
                "order": None,
                "confirm": None,
                "items": [],
            }
            return _sse_body([("step", {"name": "catalog"}), ("token", {"text": listing}), ("final", final)])
        if message.startswith("add "):
            final = {
                "answer": "Added 1 x Misery to your cart.\nYour cart:\n- 1 x Misery",
                "citations": [],
                "meta": meta,
                "order": None,
                "confirm": None,
                "items": [],
            }
            return _sse_body([("final", final)])
        if message == "check out my cart":
            final = {
                "answer": "Please confirm this order",
                "citations": [],
                "meta": meta,
                "order": None,
                "confirm": quote,
                "items": [],
            }
            return _sse_body([("confirm", {"quote": quote}), ("final", final)])
        order = {"id": "ord_1", "status": "placed", "items": [], "total": 1598, "currency": "USD"}
        final = {
            "answer": "Your order ord_1 is placed.",
            "citations": [],
            "meta": meta,
            "order": order,
            "confirm": None,
            "items": [],
        }
        return _sse_body([("final", final)])

    def handle(route: Any) -> None:
        message = json.loads(route.request.post_data)["message"]
        sent.append(message)
        route.fulfill(status=200, content_type="text/event-stream", body=reply_for(message))

    page = browser.new_page()
    page.route(web_server.base_url + "/v1/chat", handle)
    page.goto(web_server.base_url + "/")
    reply = ask(page, "find books by Stephen King")
    books = reply.locator(".lm-book")
    expect(books).to_have_count(2)
    expect(books.nth(1).get_by_role("button", name="Add Carrie to cart")).to_be_disabled()  # out of stock
    before = page.locator(".lm-bot").count()
    books.first.get_by_role("button", name="Add Misery to cart").click()
    added = wait_reply(page, before)
    before = page.locator(".lm-bot").count()
    added.get_by_role("button", name="Check out").click()
    quoted = wait_reply(page, before)
    box = quoted.locator(".lm-quote")
    expect(box).to_contain_text("Misery")
    expect(box).to_contain_text("$15.98 (demo prices)")
    before = page.locator(".lm-bot").count()
    box.get_by_role("button", name="Confirm order").click()
    done = wait_reply(page, before)
    expect(done.locator(".lm-order")).to_have_attribute("data-order-id", "ord_1")
    assert sent == [
        "find books by Stephen King",
        "add 9780451153555 to my cart",
        "check out my cart",
        "yes, confirm",
    ]
