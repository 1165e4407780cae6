"""Small documents and fixture loading shared by the knowledge integration tests."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "docs"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


DOC_A = """# Returns

## Refund window

Customers may return a book within 30 days of delivery for a full refund. The book must be unread.

## Damaged items

If a book arrives damaged, we replace it at no cost. Send a photo of the damage to support.
"""

DOC_B = """# Shipping

## Delivery times

Standard shipping takes three to five working days. Express shipping arrives the next working day.
"""
