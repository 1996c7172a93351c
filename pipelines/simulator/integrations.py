"""The simulated integrations: who emits which events, from where, in what currencies.

Order-emitting integrations (web shops, marketplaces, point-of-sale stores, mobile apps) each
have their own volume, cities, currency and payment-method mixes, comment habits and risk.
Payment providers, warehouses and returns systems emit the later events of an order's life.
UTC offsets are fixed per city (no daylight saving): what matters is that local and UTC dates
differ, not the exact rules of each zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OrderChannel = Literal["web_shop", "marketplace", "pos", "mobile_app"]
TimeStyle = Literal["millis", "seconds", "utc"]


@dataclass(frozen=True)
class City:
    """A city orders come from: GPS centre, fixed UTC offset and the region that serves it."""

    name: str
    lat: float
    lon: float
    utc_offset_minutes: int
    region: str


@dataclass(frozen=True)
class Integration:
    """One order-emitting integration and its behaviour."""

    name: str
    channel: OrderChannel
    volume: float
    cities: tuple[City, ...]
    currencies: tuple[tuple[str, float], ...]
    payment_methods: tuple[tuple[str, float], ...]
    categories: tuple[tuple[str, float], ...]
    comment_rate: float
    # Multiplies fraud bursts, payment failures and chargebacks.
    risk: float = 1.0
    # Share of orders whose customer never completes payment (the order stalls or is cancelled).
    abandon_rate: float = 0.03
    time_style: TimeStyle = "millis"
    # Share of payment events the integration's buyers retry after a failure.
    retry_rate: float = 0.7


@dataclass(frozen=True)
class PaymentProvider:
    """A payment service: its failure rate and failure-code mix."""

    name: str
    failure_rate: float
    failure_codes: tuple[tuple[str, float], ...]
    # Seconds from the order (or delivery, for cash on delivery) to the first attempt.
    delay_seconds: tuple[float, float] = (2.0, 40.0)


@dataclass(frozen=True)
class Warehouse:
    """A warehouse management system: how fast it confirms, packs, ships and delivers."""

    name: str
    region: str
    pack_hours: tuple[float, float]
    ship_hours: tuple[float, float]
    deliver_hours: tuple[float, float]
    cancel_rate: float


@dataclass(frozen=True)
class ReturnsSystem:
    """Where returns are registered, per order channel."""

    name: str
    channels: tuple[OrderChannel, ...]


# -- cities -----------------------------------------------------------------------------------

NEW_YORK = City("New York", 40.7128, -74.0060, -300, "us-east")
BOSTON = City("Boston", 42.3601, -71.0589, -300, "us-east")
CHICAGO = City("Chicago", 41.8781, -87.6298, -360, "us-east")
ATLANTA = City("Atlanta", 33.7490, -84.3880, -300, "us-east")
SAN_FRANCISCO = City("San Francisco", 37.7749, -122.4194, -480, "us-west")
LOS_ANGELES = City("Los Angeles", 34.0522, -118.2437, -480, "us-west")
SEATTLE = City("Seattle", 47.6062, -122.3321, -480, "us-west")
TORONTO = City("Toronto", 43.6532, -79.3832, -300, "ca")
VANCOUVER = City("Vancouver", 49.2827, -123.1207, -480, "ca")
MONTREAL = City("Montreal", 45.5017, -73.5673, -300, "ca")
MEXICO_CITY = City("Mexico City", 19.4326, -99.1332, -360, "latam")
GUADALAJARA = City("Guadalajara", 20.6597, -103.3496, -360, "latam")
SAO_PAULO = City("São Paulo", -23.5505, -46.6333, -180, "latam")
RIO = City("Rio de Janeiro", -22.9068, -43.1729, -180, "latam")
LONDON = City("London", 51.5074, -0.1278, 0, "uk")
MANCHESTER = City("Manchester", 53.4808, -2.2426, 0, "uk")
EDINBURGH = City("Edinburgh", 55.9533, -3.1883, 0, "uk")
PARIS = City("Paris", 48.8566, 2.3522, 60, "eu")
LYON = City("Lyon", 45.7640, 4.8357, 60, "eu")
BRUSSELS = City("Brussels", 50.8503, 4.3517, 60, "eu")
AMSTERDAM = City("Amsterdam", 52.3676, 4.9041, 60, "eu")
BERLIN = City("Berlin", 52.5200, 13.4050, 60, "eu")
MUNICH = City("Munich", 48.1351, 11.5820, 60, "eu")
HAMBURG = City("Hamburg", 53.5511, 9.9937, 60, "eu")
MADRID = City("Madrid", 40.4168, -3.7038, 60, "eu")
MILAN = City("Milan", 45.4642, 9.1900, 60, "eu")
VIENNA = City("Vienna", 48.2082, 16.3738, 60, "eu")
ZURICH = City("Zurich", 47.3769, 8.5417, 60, "eu")
GENEVA = City("Geneva", 46.2044, 6.1432, 60, "eu")
STOCKHOLM = City("Stockholm", 59.3293, 18.0686, 60, "eu")
GOTHENBURG = City("Gothenburg", 57.7089, 11.9746, 60, "eu")
HELSINKI = City("Helsinki", 60.1699, 24.9384, 120, "eu")
WARSAW = City("Warsaw", 52.2297, 21.0122, 60, "eu")
KRAKOW = City("Kraków", 50.0647, 19.9450, 60, "eu")
TOKYO = City("Tokyo", 35.6762, 139.6503, 540, "jp")
OSAKA = City("Osaka", 34.6937, 135.5023, 540, "jp")
SYDNEY = City("Sydney", -33.8688, 151.2093, 660, "au")
MELBOURNE = City("Melbourne", -37.8136, 144.9631, 660, "au")
MUMBAI = City("Mumbai", 19.0760, 72.8777, 330, "in")
BENGALURU = City("Bengaluru", 12.9716, 77.5946, 330, "in")
DELHI = City("Delhi", 28.7041, 77.1025, 330, "in")

US = (NEW_YORK, BOSTON, CHICAGO, ATLANTA, SAN_FRANCISCO, LOS_ANGELES, SEATTLE)
EU = (PARIS, LYON, BERLIN, MUNICH, AMSTERDAM, MADRID, MILAN, VIENNA, BRUSSELS)

# Cities far from everyone's home, where stolen-card orders "come from".
FRAUD_CITIES = (
    City("Lagos", 6.5244, 3.3792, 60, "eu"),
    City("Bucharest", 44.4268, 26.1025, 120, "eu"),
    City("Miami", 25.7617, -80.1918, -300, "us-east"),
)

# -- mixes ------------------------------------------------------------------------------------

WEB_PAY = (
    ("card", 0.55),
    ("paypal", 0.2),
    ("apple_pay", 0.1),
    ("google_pay", 0.07),
    ("gift_card", 0.03),
    ("bank_transfer", 0.05),
)
EU_PAY = (
    ("card", 0.42),
    ("paypal", 0.2),
    ("bank_transfer", 0.16),
    ("apple_pay", 0.08),
    ("google_pay", 0.06),
    ("gift_card", 0.03),
    ("cash_on_delivery", 0.05),
)
MARKET_PAY = (("card", 0.6), ("paypal", 0.15), ("apple_pay", 0.08), ("google_pay", 0.07), ("gift_card", 0.1))
POS_PAY = (("card", 0.7), ("apple_pay", 0.15), ("google_pay", 0.1), ("gift_card", 0.05))
APP_IOS_PAY = (("apple_pay", 0.55), ("card", 0.35), ("paypal", 0.07), ("gift_card", 0.03))
APP_ANDROID_PAY = (("google_pay", 0.5), ("card", 0.38), ("paypal", 0.08), ("gift_card", 0.04))
COD_PAY = (("cash_on_delivery", 0.35), ("card", 0.35), ("bank_transfer", 0.15), ("google_pay", 0.15))

GENERAL = (
    ("apparel", 0.22),
    ("shoes", 0.12),
    ("electronics", 0.14),
    ("home", 0.14),
    ("beauty", 0.1),
    ("toys", 0.08),
    ("books", 0.08),
    ("sports", 0.08),
    ("grocery", 0.04),
)
FASHION = (("apparel", 0.5), ("shoes", 0.3), ("beauty", 0.12), ("sports", 0.08))
TECH = (("electronics", 0.7), ("home", 0.15), ("toys", 0.1), ("books", 0.05))
STORE = (("grocery", 0.3), ("apparel", 0.2), ("beauty", 0.15), ("home", 0.15), ("books", 0.1), ("toys", 0.1))
CRAFT = (("home", 0.45), ("apparel", 0.2), ("toys", 0.15), ("beauty", 0.1), ("books", 0.1))


INTEGRATIONS: tuple[Integration, ...] = (
    # web shops
    Integration(
        "shopify-us-01", "web_shop", 9, (NEW_YORK, BOSTON, CHICAGO, ATLANTA), (("USD", 1.0),), WEB_PAY, GENERAL, 0.22
    ),
    Integration(
        "shopify-us-02",
        "web_shop",
        6,
        (SAN_FRANCISCO, LOS_ANGELES, SEATTLE),
        (("USD", 0.95), ("CAD", 0.05)),
        WEB_PAY,
        FASHION,
        0.25,
        time_style="seconds",
    ),
    Integration(
        "shopify-eu-03",
        "web_shop",
        7,
        (PARIS, LYON, BRUSSELS),
        (("EUR", 0.94), ("GBP", 0.03), ("CHF", 0.03)),
        EU_PAY,
        FASHION,
        0.25,
    ),
    Integration(
        "shopify-uk-02",
        "web_shop",
        5,
        (LONDON, MANCHESTER, EDINBURGH),
        (("GBP", 0.97), ("EUR", 0.03)),
        WEB_PAY,
        GENERAL,
        0.2,
        time_style="utc",
    ),
    Integration(
        "woocommerce-de-01",
        "web_shop",
        5,
        (BERLIN, MUNICH, HAMBURG),
        (("EUR", 1.0),),
        EU_PAY,
        GENERAL,
        0.15,
        abandon_rate=0.05,
    ),
    Integration(
        "magento-nordics",
        "web_shop",
        3,
        (STOCKHOLM, GOTHENBURG, HELSINKI),
        (("SEK", 0.75), ("EUR", 0.25)),
        EU_PAY,
        GENERAL,
        0.12,
    ),
    Integration(
        "bigcommerce-ca",
        "web_shop",
        3,
        (TORONTO, VANCOUVER, MONTREAL),
        (("CAD", 0.9), ("USD", 0.1)),
        WEB_PAY,
        TECH,
        0.18,
    ),
    Integration("commerce-cloud-jp", "web_shop", 4, (TOKYO, OSAKA), (("JPY", 1.0),), MARKET_PAY, TECH, 0.1, risk=0.5),
    Integration(
        "shopware-pl",
        "web_shop",
        2.5,
        (WARSAW, KRAKOW),
        (("PLN", 0.92), ("EUR", 0.08)),
        COD_PAY,
        GENERAL,
        0.15,
        abandon_rate=0.06,
    ),
    Integration(
        "vtex-br", "web_shop", 3, (SAO_PAULO, RIO), (("BRL", 1.0),), COD_PAY, GENERAL, 0.2, risk=1.8, abandon_rate=0.08
    ),
    Integration(
        "webshop-in",
        "web_shop",
        3,
        (MUMBAI, BENGALURU, DELHI),
        (("INR", 1.0),),
        COD_PAY,
        GENERAL,
        0.18,
        risk=1.4,
        abandon_rate=0.09,
        retry_rate=0.5,
    ),
    Integration(
        "webshop-au", "web_shop", 2.5, (SYDNEY, MELBOURNE), (("AUD", 1.0),), WEB_PAY, FASHION, 0.2, time_style="seconds"
    ),
    Integration(
        "webshop-ch", "web_shop", 1.5, (ZURICH, GENEVA), (("CHF", 0.85), ("EUR", 0.15)), EU_PAY, TECH, 0.12, risk=0.6
    ),
    # marketplaces
    Integration("amazon-us", "marketplace", 12, US, (("USD", 1.0),), MARKET_PAY, GENERAL, 0.15, time_style="utc"),
    Integration(
        "amazon-de",
        "marketplace",
        8,
        (BERLIN, MUNICH, HAMBURG, VIENNA),
        (("EUR", 1.0),),
        MARKET_PAY,
        GENERAL,
        0.12,
        time_style="utc",
    ),
    Integration(
        "ebay-uk", "marketplace", 5, (LONDON, MANCHESTER, EDINBURGH), (("GBP", 1.0),), MARKET_PAY, TECH, 0.2, risk=1.6
    ),
    Integration(
        "zalando-eu",
        "marketplace",
        6,
        (*EU, STOCKHOLM, WARSAW),
        (("EUR", 0.8), ("SEK", 0.08), ("PLN", 0.07), ("CHF", 0.05)),
        EU_PAY,
        FASHION,
        0.18,
    ),
    Integration("rakuten-jp", "marketplace", 4, (TOKYO, OSAKA), (("JPY", 1.0),), MARKET_PAY, GENERAL, 0.1, risk=0.6),
    Integration(
        "mercadolibre-mx",
        "marketplace",
        4,
        (MEXICO_CITY, GUADALAJARA),
        (("MXN", 1.0),),
        COD_PAY,
        GENERAL,
        0.2,
        risk=1.7,
        abandon_rate=0.07,
    ),
    Integration(
        "etsy-global",
        "marketplace",
        3,
        (NEW_YORK, LONDON, PARIS, TORONTO, SYDNEY),
        (("USD", 0.5), ("GBP", 0.2), ("EUR", 0.2), ("CAD", 0.05), ("AUD", 0.05)),
        WEB_PAY,
        CRAFT,
        0.35,
        risk=2.2,
    ),
    # point-of-sale stores: card-present, delivered at the till
    Integration(
        "pos-store-17",
        "pos",
        4,
        (NEW_YORK,),
        (("USD", 1.0),),
        POS_PAY,
        STORE,
        0.05,
        abandon_rate=0.0,
        time_style="seconds",
        risk=0.3,
    ),
    Integration(
        "pos-store-21",
        "pos",
        3,
        (SAN_FRANCISCO,),
        (("USD", 1.0),),
        POS_PAY,
        STORE,
        0.05,
        abandon_rate=0.0,
        time_style="seconds",
        risk=0.3,
    ),
    Integration("pos-store-42", "pos", 3, (PARIS,), (("EUR", 1.0),), POS_PAY, STORE, 0.06, abandon_rate=0.0, risk=0.3),
    Integration(
        "pos-store-08", "pos", 2.5, (LONDON,), (("GBP", 1.0),), POS_PAY, STORE, 0.05, abandon_rate=0.0, risk=0.3
    ),
    Integration(
        "pos-store-33", "pos", 2.5, (TOKYO,), (("JPY", 1.0),), POS_PAY, STORE, 0.03, abandon_rate=0.0, risk=0.2
    ),
    # mobile apps
    Integration("app-ios-us", "mobile_app", 7, US, (("USD", 1.0),), APP_IOS_PAY, GENERAL, 0.12),
    Integration("app-android-us", "mobile_app", 5, US, (("USD", 1.0),), APP_ANDROID_PAY, GENERAL, 0.1, risk=1.3),
    Integration("app-ios-eu", "mobile_app", 4, EU, (("EUR", 0.9), ("GBP", 0.1)), APP_IOS_PAY, FASHION, 0.12),
    Integration(
        "app-android-in",
        "mobile_app",
        3,
        (MUMBAI, BENGALURU, DELHI),
        (("INR", 1.0),),
        APP_ANDROID_PAY,
        GENERAL,
        0.1,
        risk=1.5,
        retry_rate=0.5,
    ),
    Integration(
        "app-android-br", "mobile_app", 2.5, (SAO_PAULO, RIO), (("BRL", 1.0),), APP_ANDROID_PAY, GENERAL, 0.15, risk=1.9
    ),
)

_CARD_CODES = (
    ("card_declined", 0.38),
    ("insufficient_funds", 0.3),
    ("expired_card", 0.1),
    ("fraud_suspected", 0.07),
    ("processing_error", 0.08),
    ("timeout", 0.07),
)

PAYMENT_PROVIDERS: dict[str, PaymentProvider] = {
    p.name: p
    for p in (
        PaymentProvider("stripe-eu", 0.06, _CARD_CODES),
        PaymentProvider("stripe-us", 0.07, _CARD_CODES),
        PaymentProvider("adyen-apac", 0.05, _CARD_CODES),
        PaymentProvider(
            "adyen-latam",
            0.14,
            (
                ("card_declined", 0.35),
                ("insufficient_funds", 0.35),
                ("fraud_suspected", 0.12),
                ("timeout", 0.1),
                ("processing_error", 0.08),
            ),
        ),
        PaymentProvider(
            "razorpay-in",
            0.12,
            (("timeout", 0.3), ("processing_error", 0.2), ("insufficient_funds", 0.25), ("card_declined", 0.25)),
        ),
        PaymentProvider(
            "paypal-checkout",
            0.04,
            (("insufficient_funds", 0.4), ("processing_error", 0.3), ("fraud_suspected", 0.15), ("timeout", 0.15)),
        ),
        PaymentProvider(
            "klarna-bank-eu",
            0.05,
            (("insufficient_funds", 0.7), ("processing_error", 0.2), ("timeout", 0.1)),
            (3600.0, 172_800.0),
        ),
        PaymentProvider(
            "plaid-ach-us", 0.06, (("insufficient_funds", 0.8), ("processing_error", 0.2)), (3600.0, 259_200.0)
        ),
        PaymentProvider("giftcard-hub", 0.08, (("insufficient_funds", 0.85), ("expired_card", 0.15))),
        PaymentProvider("cod-ledger", 0.1, (("insufficient_funds", 0.6), ("processing_error", 0.4))),
        PaymentProvider(
            "square-pos", 0.03, (("card_declined", 0.5), ("insufficient_funds", 0.35), ("timeout", 0.15)), (1.0, 5.0)
        ),
        PaymentProvider(
            "sumup-pos-eu", 0.035, (("card_declined", 0.5), ("insufficient_funds", 0.3), ("timeout", 0.2)), (1.0, 5.0)
        ),
    )
}

WAREHOUSES: dict[str, Warehouse] = {
    w.region: w
    for w in (
        Warehouse("wms-newark", "us-east", (2, 20), (4, 30), (24, 96), 0.02),
        Warehouse("wms-reno", "us-west", (3, 24), (6, 30), (24, 120), 0.02),
        Warehouse("wms-toronto", "ca", (4, 24), (8, 36), (36, 120), 0.025),
        Warehouse("wms-monterrey", "latam", (6, 36), (12, 48), (48, 200), 0.05),
        Warehouse("wms-london", "uk", (2, 16), (4, 24), (18, 72), 0.02),
        Warehouse("wms-paris", "eu", (3, 20), (6, 30), (24, 96), 0.025),
        Warehouse("wms-osaka", "jp", (1, 10), (2, 16), (12, 48), 0.01),
        Warehouse("wms-sydney", "au", (4, 24), (8, 36), (36, 144), 0.03),
        Warehouse("wms-mumbai", "in", (6, 36), (12, 48), (48, 220), 0.06),
    )
}

RETURNS_SYSTEMS: tuple[ReturnsSystem, ...] = (
    ReturnsSystem("returns-portal", ("web_shop", "mobile_app")),
    ReturnsSystem("marketplace-returns", ("marketplace",)),
    ReturnsSystem("store-returns", ("pos",)),
)


def payment_provider_for(integration: Integration, method: str, currency: str) -> PaymentProvider:
    """The provider that handles ``method`` in ``currency`` for ``integration``."""
    if integration.channel == "pos":
        name = "square-pos" if currency in ("USD", "JPY") else "sumup-pos-eu"
    elif method == "paypal":
        name = "paypal-checkout"
    elif method == "gift_card":
        name = "giftcard-hub"
    elif method == "cash_on_delivery":
        name = "cod-ledger"
    elif method == "bank_transfer":
        name = "plaid-ach-us" if currency in ("USD", "CAD") else "klarna-bank-eu"
    elif currency == "INR":
        name = "razorpay-in"
    elif currency in ("BRL", "MXN"):
        name = "adyen-latam"
    elif currency in ("JPY", "AUD"):
        name = "adyen-apac"
    elif currency in ("USD", "CAD"):
        name = "stripe-us"
    else:
        name = "stripe-eu"
    return PAYMENT_PROVIDERS[name]


def returns_system_for(integration: Integration) -> ReturnsSystem:
    """Where returns of ``integration``'s orders are registered."""
    return next(system for system in RETURNS_SYSTEMS if integration.channel in system.channels)


def all_source_names() -> tuple[str, ...]:
    """Every integration name the simulator can put in ``source``."""
    return (
        *(integration.name for integration in INTEGRATIONS),
        *PAYMENT_PROVIDERS,
        *(warehouse.name for warehouse in WAREHOUSES.values()),
        *(system.name for system in RETURNS_SYSTEMS),
    )
