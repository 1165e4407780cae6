"""Web-shop HTTP API: catalog search, book details, recommendations, cart, quotes and orders.

Translation only: every handler calls a tool (tools.catalog / tools.orders) with the session's principal
and maps ``ToolError`` to its HTTP status with a ``{"error", "message"}`` body. Prices are integer cents;
``demo_price: true`` marks the demo catalog's generated prices.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from channels.web.deps import session_principal
from memory.principals import Principal
from tools import catalog as catalog_tools
from tools import orders as order_tools
from tools.errors import ToolError

__all__ = ["router"]

router = APIRouter(tags=["commerce"])
T = TypeVar("T")
PrincipalDep = Annotated[Principal, Depends(session_principal)]  # no/bad session: 401 {error, message}


class ErrorOut(BaseModel):
    error: str
    message: str


class BookOut(BaseModel):
    isbn: str = Field(description="ISBN-13")
    isbn10: str | None = None
    title: str
    author: str
    year: int | None = None
    publisher: str = ""
    price_cents: int
    currency: str
    price_display: str
    demo_price: bool = Field(description="True when price and stock are generated demo values.")
    in_stock: bool
    stock: int
    cover_url: str | None = None
    rating_count: int = 0
    rating_avg: float | None = None
    score: float | None = None


class BookDetailOut(BookOut):
    description: str = ""
    genres: list[str] = []


class RecommendationOut(BookOut):
    reason: str
    kind: Literal["similar", "also_liked"]


class SearchOut(BaseModel):
    query: str | None
    total: int
    total_is_lower_bound: bool
    page: int
    page_size: int
    sort: str
    results: list[BookOut]
    demo_price: bool
    note: str | None = None


class CartItemOut(BaseModel):
    isbn: str
    title: str
    author: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int
    in_stock: bool
    demo_price: bool


class CartOut(BaseModel):
    items: list[CartItemOut]
    total_cents: int
    total_display: str
    currency: str
    demo_price: bool
    note: str | None = None


class AddToCartIn(BaseModel):
    isbn: str
    quantity: int = 1


class QuoteItemIn(BaseModel):
    isbn: str
    quantity: int = 1


class QuoteIn(BaseModel):
    items: list[QuoteItemIn] | None = Field(default=None, description="Omit to quote the cart.")


class LineOut(BaseModel):
    isbn: str
    title: str
    author: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class QuoteOut(BaseModel):
    quote_id: str
    token: str = Field(description="Signed confirmation token: POST it to /v1/orders to place the order.")
    items: list[LineOut]
    total_cents: int
    total_display: str
    currency: str
    expires_at: str
    demo_price: bool
    note: str | None = None


class PlaceOrderIn(BaseModel):
    token: str


class OrderOut(BaseModel):
    order_id: str
    status: Literal["placed", "shipped", "delivered", "cancelled"]
    items: list[LineOut]
    total_cents: int
    total_display: str
    currency: str
    demo_price: bool
    created_at: str
    cancellable: bool
    replayed: bool | None = None
    customer: str | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 422, 503)
}


async def _call(aw: Awaitable[T]) -> T | JSONResponse:
    try:
        return await aw
    except ToolError as exc:
        return JSONResponse(status_code=exc.http_status, content=exc.to_dict())


@router.get("/v1/catalog/search", response_model=SearchOut, responses=_ERRORS)
async def search(
    q: str | None = Query(None, max_length=200, description="Title or author words; typos are fine."),
    author: str | None = Query(None, max_length=200),
    publisher: str | None = Query(None, max_length=200),
    year_min: int | None = None,
    year_max: int | None = None,
    price_min_cents: int | None = Query(None, ge=0),
    price_max_cents: int | None = Query(None, ge=0),
    in_stock: bool | None = None,
    sort: Literal["relevance", "title", "year", "price"] = "relevance",
    page: int = Query(1, ge=1),
    page_size: int = Query(10, ge=1, le=50),
) -> Any:
    return await _call(
        catalog_tools.search_books(
            q,
            author=author,
            publisher=publisher,
            year_min=year_min,
            year_max=year_max,
            price_min_cents=price_min_cents,
            price_max_cents=price_max_cents,
            in_stock=in_stock,
            sort=sort,
            page=page,
            page_size=page_size,
        )
    )


@router.get("/v1/books/{isbn}", response_model=BookDetailOut, responses=_ERRORS)
async def book(isbn: str = Path(max_length=40)) -> Any:
    return await _call(catalog_tools.get_book(isbn))


@router.get("/v1/books/{isbn}/recommendations", response_model=list[RecommendationOut], responses=_ERRORS)
async def recommendations(
    isbn: str = Path(max_length=40),
    kind: Literal["similar", "also_liked"] = "similar",
    k: int = Query(5, ge=1, le=20),
) -> Any:
    return await _call(catalog_tools.recommend(isbn, kind, k))


@router.get("/v1/cart", response_model=CartOut, responses=_ERRORS)
async def cart(principal: PrincipalDep) -> Any:
    return await _call(order_tools.show_cart(principal=principal))


@router.post("/v1/cart", response_model=CartOut, responses=_ERRORS)
async def cart_add(body: AddToCartIn, principal: PrincipalDep) -> Any:
    return await _call(order_tools.add_to_cart(body.isbn, body.quantity, principal=principal))


@router.delete("/v1/cart/{isbn}", response_model=CartOut, responses=_ERRORS)
async def cart_remove(principal: PrincipalDep, isbn: str = Path(max_length=40)) -> Any:
    return await _call(order_tools.remove_from_cart(isbn, principal=principal))


@router.post("/v1/orders/quote", response_model=QuoteOut, responses=_ERRORS)
async def quote(principal: PrincipalDep, body: QuoteIn | None = None) -> Any:
    items = None if body is None or body.items is None else [i.model_dump() for i in body.items]
    return await _call(order_tools.quote_order(items, principal=principal))


@router.post("/v1/orders", response_model=OrderOut, status_code=201, responses=_ERRORS)
async def place(
    body: PlaceOrderIn,
    principal: PrincipalDep,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),
) -> Any:
    if not idempotency_key:
        return JSONResponse(
            status_code=400,
            content={
                "error": "idempotency_key_required",
                "message": "Send an Idempotency-Key header (a fresh random value per order; reuse it on retry).",
            },
        )
    result = await _call(
        order_tools.place_order(body.token, principal=principal, idempotency_key=idempotency_key)
    )
    if isinstance(result, dict) and result.get("replayed"):
        return JSONResponse(status_code=200, content=OrderOut(**result).model_dump())
    return result


@router.get("/v1/orders", response_model=list[OrderOut], responses=_ERRORS)
async def orders(principal: PrincipalDep) -> Any:
    return await _call(order_tools.list_orders(principal=principal))


@router.get("/v1/orders/{order_id}", response_model=OrderOut, responses=_ERRORS)
async def order(principal: PrincipalDep, order_id: str = Path(max_length=100)) -> Any:
    return await _call(order_tools.order_status(order_id, principal=principal))


@router.post("/v1/orders/{order_id}/cancel", response_model=OrderOut, responses=_ERRORS)
async def cancel(principal: PrincipalDep, order_id: str = Path(max_length=100)) -> Any:
    return await _call(order_tools.cancel_order(order_id, principal=principal))
