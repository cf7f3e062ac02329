"""Typed properties of the E-commerce spec v2 events, plus sign-up, log-in, pages and
Segment's A/B-testing ``Experiment Viewed``.

Every model allows extra keys: the spec lets shops send their own properties,
and they are carried through untouched. An event name that is not in
:data:`EVENT_PROPERTIES` is a custom track event whose properties stay untyped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from models.errors import Code
from models.fields import (
    Amount,
    Currency,
    Id,
    Position,
    Price,
    Quantity,
    Rating,
    Stock,
    within_cent,
)


class EventName(StrEnum):
    """The track event names of the contract: the only place they are spelled out. Members
    are strings, so they compare, hash and format as the names themselves (SQL built from
    them included)."""

    PRODUCTS_SEARCHED = "Products Searched"
    PRODUCT_LIST_VIEWED = "Product List Viewed"
    PRODUCT_LIST_FILTERED = "Product List Filtered"
    PRODUCT_CLICKED = "Product Clicked"
    PRODUCT_VIEWED = "Product Viewed"
    PRODUCT_ADDED = "Product Added"
    PRODUCT_REMOVED = "Product Removed"
    CART_VIEWED = "Cart Viewed"
    CHECKOUT_STARTED = "Checkout Started"
    CHECKOUT_STEP_VIEWED = "Checkout Step Viewed"
    CHECKOUT_STEP_COMPLETED = "Checkout Step Completed"
    PAYMENT_INFO_ENTERED = "Payment Info Entered"
    ORDER_COMPLETED = "Order Completed"
    ORDER_UPDATED = "Order Updated"
    ORDER_REFUNDED = "Order Refunded"
    ORDER_CANCELLED = "Order Cancelled"
    COUPON_ENTERED = "Coupon Entered"
    COUPON_APPLIED = "Coupon Applied"
    COUPON_DENIED = "Coupon Denied"
    COUPON_REMOVED = "Coupon Removed"
    PROMOTION_VIEWED = "Promotion Viewed"
    PROMOTION_CLICKED = "Promotion Clicked"
    PRODUCT_REVIEWED = "Product Reviewed"
    SIGNED_UP = "Signed Up"
    LOGGED_IN = "Logged In"
    EXPERIMENT_VIEWED = "Experiment Viewed"


# the rules across a model's fields, as functions of its fields by name: the models' own
# validators call them, and so does the canonical-dict validator (models/canonical.py)
def check_line_total(values: Mapping[str, Any]) -> None:
    get = values.get
    line_total, price, quantity = get("line_total"), get("price"), get("quantity")
    if line_total is not None and price is not None and quantity is not None:
        expected = quantity * price - (get("discount") or Decimal(0))
        if not within_cent(expected, line_total):
            raise PydanticCustomError(
                Code.LINE_TOTAL_MISMATCH,
                "line_total {line_total} != quantity x price - discount = {expected}",
                {"line_total": str(line_total), "expected": str(expected)},
            )


def check_order_total(values: Mapping[str, Any]) -> None:
    get = values.get
    total, subtotal = get("total"), get("subtotal")
    if total is not None and subtotal is not None:
        zero = Decimal(0)
        expected = subtotal + (get("tax") or zero) + (get("shipping") or zero) - (get("discount") or zero)
        if not within_cent(expected, total):
            raise PydanticCustomError(
                Code.ORDER_TOTAL_MISMATCH,
                "total {total} != subtotal + tax + shipping - discount = {expected}",
                {"total": str(total), "expected": str(expected)},
            )


def check_has_products(values: Mapping[str, Any]) -> None:
    if not values.get("products"):
        raise PydanticCustomError(Code.ORDER_NO_PRODUCTS, "an order needs at least one product")


class Props(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Product(Props):
    """A product as it appears alone (Product Viewed) or in a list (Order Completed)."""

    product_id: Id
    sku: Id | None = None
    name: str | None = None
    brand: str | None = None
    variant: str | None = None
    category: str | None = None
    price: Price | None = None
    quantity: Quantity | None = None
    discount: Amount | None = None
    line_total: Amount | None = None
    coupon: str | None = None
    position: Position | None = None
    url: str | None = None
    image_url: str | None = None
    stock: Stock | None = None
    currency: Currency | None = None
    value: Amount | None = None

    @model_validator(mode="after")
    def _line_total(self) -> Product:
        check_line_total(self.__dict__)
        return self


class CartProduct(Product):
    cart_id: Id | None = None


class ProductsSearched(Props):
    query: str


class ProductList(Props):
    list_id: Id | None = None
    category: str | None = None
    products: list[Product] = []


class CartViewed(Props):
    cart_id: Id | None = None
    products: list[Product] = []


class Checkout(Props):
    """Checkout Started carries the basket; totals follow the order rules."""

    checkout_id: Id | None = None
    order_id: Id | None = None
    cart_id: Id | None = None
    affiliation: str | None = None
    value: Amount | None = None
    revenue: Amount | None = None
    subtotal: Amount | None = None
    total: Amount | None = None
    shipping: Amount | None = None
    tax: Amount | None = None
    discount: Amount | None = None
    coupon: str | None = None
    currency: Currency | None = None
    products: list[Product] = []

    @model_validator(mode="after")
    def _order_total(self) -> Checkout:
        check_order_total(self.__dict__)
        return self


class CheckoutStep(Props):
    checkout_id: Id | None = None
    step: Position | None = None
    shipping_method: str | None = None
    payment_method: str | None = None


class PaymentInfo(CheckoutStep):
    order_id: Id | None = None


class Order(Checkout):
    """Order Completed / Updated: an order id and at least one product."""

    order_id: Id

    @model_validator(mode="after")
    def _has_products(self) -> Order:
        check_has_products(self.__dict__)
        return self


class OrderChange(Checkout):
    """Order Refunded / Cancelled: an order id; products only for a partial refund."""

    order_id: Id
    reason: str | None = None


class Coupon(Props):
    order_id: Id | None = None
    cart_id: Id | None = None
    coupon_id: Id | None = None
    coupon_name: str | None = None
    discount: Amount | None = None
    reason: str | None = None


class Promotion(Props):
    promotion_id: Id | None = None
    creative: str | None = None
    name: str | None = None
    position: str | None = None


class ProductReviewed(Props):
    product_id: Id
    review_id: Id | None = None
    review_body: str | None = None
    rating: Rating | None = None


class Account(Props):
    method: str | None = None


class ExperimentViewed(Props):
    """Segment's A/B-testing event: the shopper saw this variation of this experiment."""

    experiment_id: Id
    experiment_name: str | None = None
    variation_id: Id
    variation_name: str | None = None


class PageProps(Props):
    name: str | None = None
    url: str | None = None
    path: str | None = None
    referrer: str | None = None
    title: str | None = None
    search: str | None = None


EVENT_PROPERTIES: dict[str, type[Props]] = {
    EventName.PRODUCTS_SEARCHED: ProductsSearched,
    EventName.PRODUCT_LIST_VIEWED: ProductList,
    EventName.PRODUCT_LIST_FILTERED: ProductList,
    EventName.PRODUCT_CLICKED: Product,
    EventName.PRODUCT_VIEWED: Product,
    EventName.PRODUCT_ADDED: CartProduct,
    EventName.PRODUCT_REMOVED: CartProduct,
    EventName.CART_VIEWED: CartViewed,
    EventName.CHECKOUT_STARTED: Checkout,
    EventName.CHECKOUT_STEP_VIEWED: CheckoutStep,
    EventName.CHECKOUT_STEP_COMPLETED: CheckoutStep,
    EventName.PAYMENT_INFO_ENTERED: PaymentInfo,
    EventName.ORDER_COMPLETED: Order,
    EventName.ORDER_UPDATED: Order,
    EventName.ORDER_REFUNDED: OrderChange,
    EventName.ORDER_CANCELLED: OrderChange,
    EventName.COUPON_ENTERED: Coupon,
    EventName.COUPON_APPLIED: Coupon,
    EventName.COUPON_DENIED: Coupon,
    EventName.COUPON_REMOVED: Coupon,
    EventName.PROMOTION_VIEWED: Promotion,
    EventName.PROMOTION_CLICKED: Promotion,
    EventName.PRODUCT_REVIEWED: ProductReviewed,
    EventName.SIGNED_UP: Account,
    EventName.LOGGED_IN: Account,
    EventName.EXPERIMENT_VIEWED: ExperimentViewed,
}
"""Event name -> properties model, for ``type == "track"``."""

# each model validator above -> its rule on the fields (models/canonical.py)
PROPERTY_RULES: dict[Any, Callable[[Mapping[str, Any]], None]] = {
    Product._line_total: check_line_total,
    Checkout._order_total: check_order_total,
    Order._has_products: check_has_products,
}
