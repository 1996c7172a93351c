"""The product catalog, prices per currency, and return behaviour by category."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    """A catalog item; ``usd_price`` is converted per currency by :func:`price_minor`."""

    product_id: str
    name: str
    category: str
    usd_price: float


@dataclass(frozen=True)
class CategoryReturns:
    """How often a category comes back, and why."""

    rate: float
    reasons: tuple[tuple[str, float], ...]


# Fixed conversion rates: the simulation needs plausible prices, not today's market.
USD_RATES: dict[str, float] = {
    "USD": 1.0,
    "EUR": 0.92,
    "GBP": 0.79,
    "CHF": 0.88,
    "SEK": 10.5,
    "PLN": 4.0,
    "CAD": 1.36,
    "AUD": 1.52,
    "JPY": 150.0,
    "INR": 83.0,
    "BRL": 5.0,
    "MXN": 17.0,
}

# Currencies without minor units: amounts are whole numbers.
ZERO_DECIMAL = frozenset({"JPY"})

_ITEMS: dict[str, tuple[tuple[str, float], ...]] = {
    "apparel": (
        ("Merino Socks", 12.5),
        ("Organic Cotton T-Shirt", 24.0),
        ("Rain Jacket", 129.0),
        ("Slim Chinos", 59.0),
        ("Wool Sweater", 89.0),
        ("Linen Shirt", 49.0),
        ("Down Parka", 249.0),
    ),
    "shoes": (
        ("Trail Runner 2", 89.9),
        ("Leather Boots", 179.0),
        ("Canvas Sneakers", 55.0),
        ("Running Shoes Pro", 139.0),
        ("Sandals", 35.0),
    ),
    "electronics": (
        ("Wireless Earbuds", 129.0),
        ("Noise-Cancelling Headphones", 299.0),
        ("4K Monitor 27in", 399.0),
        ("USB-C Charger 65W", 39.0),
        ("Mechanical Keyboard", 119.0),
        ("Smartwatch", 249.0),
        ("Laptop 14in", 1199.0),
        ("Tablet 11in", 649.0),
    ),
    "home": (
        ("Ceramic Mug Set", 29.0),
        ("Cast Iron Skillet", 45.0),
        ("Linen Bedding Set", 149.0),
        ("Desk Lamp", 59.0),
        ("Handwoven Rug", 219.0),
        ("Scented Candle", 18.0),
    ),
    "beauty": (
        ("Face Serum", 38.0),
        ("Shampoo Bar", 11.0),
        ("Hand Cream", 9.5),
        ("Perfume 50ml", 95.0),
    ),
    "toys": (
        ("Building Blocks 500pc", 49.0),
        ("Wooden Train Set", 65.0),
        ("Plush Bear", 19.0),
        ("Board Game", 39.0),
    ),
    "books": (
        ("Cookbook", 32.0),
        ("Paperback Novel", 14.0),
        ("Travel Guide", 22.0),
        ("Children's Atlas", 27.0),
    ),
    "sports": (
        ("Yoga Mat", 35.0),
        ("Dumbbell Pair 10kg", 79.0),
        ("Cycling Helmet", 89.0),
        ("Water Bottle", 19.0),
    ),
    "grocery": (
        ("Coffee Beans 1kg", 24.0),
        ("Green Tea Tin", 12.0),
        ("Dark Chocolate Box", 16.0),
        ("Olive Oil 1l", 18.0),
    ),
}

CATALOG: dict[str, tuple[Product, ...]] = {}
for _number, (_category, _entries) in enumerate(_ITEMS.items()):
    CATALOG[_category] = tuple(
        Product(f"sku-{(_number + 1) * 100 + index:04d}", name, _category, price)
        for index, (name, price) in enumerate(_entries)
    )

RETURNS: dict[str, CategoryReturns] = {
    "apparel": CategoryReturns(
        0.2,
        (
            ("not_as_described", 0.35),
            ("changed_mind", 0.35),
            ("damaged", 0.1),
            ("wrong_item", 0.1),
            ("late_delivery", 0.05),
            ("other", 0.05),
        ),
    ),
    "shoes": CategoryReturns(
        0.24,
        (("not_as_described", 0.4), ("changed_mind", 0.3), ("damaged", 0.15), ("wrong_item", 0.1), ("other", 0.05)),
    ),
    "electronics": CategoryReturns(
        0.08,
        (
            ("damaged", 0.4),
            ("not_as_described", 0.25),
            ("missing_item", 0.15),
            ("wrong_item", 0.1),
            ("changed_mind", 0.1),
        ),
    ),
    "home": CategoryReturns(
        0.07, (("damaged", 0.5), ("not_as_described", 0.2), ("changed_mind", 0.2), ("late_delivery", 0.1))
    ),
    "beauty": CategoryReturns(0.03, (("damaged", 0.4), ("wrong_item", 0.3), ("changed_mind", 0.3))),
    "toys": CategoryReturns(0.05, (("damaged", 0.4), ("missing_item", 0.3), ("changed_mind", 0.3))),
    "books": CategoryReturns(0.02, (("damaged", 0.6), ("wrong_item", 0.4))),
    "sports": CategoryReturns(0.07, (("not_as_described", 0.4), ("damaged", 0.3), ("changed_mind", 0.3))),
    "grocery": CategoryReturns(0.01, (("damaged", 0.7), ("other", 0.3))),
}


def price_minor(product: Product, currency: str) -> int:
    """The product's price in ``currency`` in minor units, rounded to a shop-like price (…,99 / …0)."""
    value = product.usd_price * USD_RATES[currency]
    if currency in ZERO_DECIMAL:
        return max(10, round(value / 10) * 10)
    whole = max(1, round(value))
    return whole * 100 - 1 if whole > 5 else round(value * 100)


def to_amount(minor: int, currency: str) -> float | int:
    """Minor units as the JSON number the events carry."""
    return minor if currency in ZERO_DECIMAL else round(minor / 100, 2)
