"""The demo shop's rows, generated in Python from one seeded `random.Random`: the same seed, the same rows.

A mid-sized online shop over two years (see `timeline.py`): marketing channels and their campaigns, a catalog with a
few best sellers and a long tail (Zipf-like popularity, categories with their own seasons, products launched and
discontinued along the way, a 4 % price rise on 2025-01-01), customers acquired through the channels at a growing
pace, and their orders: most customers order once or twice, a few order dozens of times (a Pareto tail); order volume
follows the season, the weekday, the hour and Black Friday; coupons, shipping fees, cancellations, refunds, split
payments. Money is kept in integer cents so every total adds up exactly; the builder stores it as DECIMAL(12,2).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from demo.timeline import DAYS, REFERENCE_DATE, START_DATE, day, is_black_friday_week, moment, seasonal_day

CUSTOMERS = 5_000
#: customers who signed up in the two years before the window (their earlier orders are not in the data)
EXISTING_SHARE = 0.35
PRODUCTS = 300
#: orders a buying customer places beyond the first: Pareto-tailed, scaled by how long they are a customer
REPEAT_SHAPE = 1.35
REPEAT_PER_YEAR = 1.6
PRICE_RISE_ON = date(2025, 1, 1)
LAST_MOMENT = datetime.combine(REFERENCE_DATE, time(23, 59, 59))
PRICE_RISE = 1.04
FREE_SHIPPING_FROM = 7_500  # cents
SHIPPING_FEE = 599

# (name, type, share of new customers)
CHANNELS = [
    ("Organic Search", "organic", 28),
    ("Paid Search", "paid", 20),
    ("Paid Social", "paid", 16),
    ("Direct", "direct", 15),
    ("Affiliate", "referral", 7),
    ("Referral", "referral", 6),
    ("Email", "owned", 4),
    ("Display", "paid", 4),
]
CAMPAIGN_CHANNELS = ("Paid Search", "Paid Social", "Email", "Affiliate", "Display")
CAMPAIGN_THEMES = (
    "Summer Sale", "Back to School", "Autumn Drop", "Black Friday", "Holiday Gifts", "New Year Reset",
    "Spring Collection", "Mid-Season Sale",
)

# category -> (subcategories, median price in cents, months it sells best in)
CATEGORIES: dict[str, tuple[tuple[str, ...], int, tuple[int, ...]]] = {
    "Apparel": (("T-Shirts", "Hoodies", "Jackets", "Pants"), 4_500, (10, 11, 12)),
    "Footwear": (("Sneakers", "Boots", "Sandals"), 9_500, (4, 5, 9)),
    "Accessories": (("Bags", "Hats", "Socks", "Belts"), 2_500, (11, 12)),
    "Home": (("Mugs", "Blankets", "Candles", "Kitchen"), 3_000, (11, 12)),
    "Outdoors": (("Tents", "Backpacks", "Bottles"), 8_000, (5, 6, 7, 8)),
    "Electronics": (("Headphones", "Chargers", "Speakers"), 7_000, (11, 12)),
    "Beauty": (("Skincare", "Fragrance"), 3_500, (2, 12)),
}
ADJECTIVES = (
    "Classic", "Urban", "Alpine", "Coastal", "Everyday", "Summit", "Nordic", "Heritage", "Trail", "Studio",
    "Canyon", "Harbor", "Pioneer", "Meadow", "Metro",
)
FIRST_NAMES = (
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Mia", "Leo", "Sofia", "Ethan", "Amelia", "Mateo", "Chloe",
    "Hugo", "Isla", "Oscar", "Lina", "Felix", "Nora", "Jonas", "Elena", "Arjun", "Yuki", "Omar", "Zoe", "Sami",
    "Ines", "Theo", "Hana", "Max",
)
LAST_NAMES = (
    "Smith", "Johnson", "Garcia", "Müller", "Martin", "Brown", "Rossi", "Dubois", "Jansen", "Silva", "Kowalski",
    "Nguyen", "Tanaka", "Andersson", "Lopez", "Wilson", "Moreau", "Schmidt", "Taylor", "Novak", "O'Brien", "Khan",
    "Costa", "Berg", "Fischer",
)
# country -> share of customers
COUNTRIES = {"US": 44, "GB": 12, "DE": 10, "FR": 8, "CA": 7, "AU": 5, "NL": 4, "ES": 4, "IT": 3, "SE": 3}
CHANNEL_IDS = {name: channel_id for channel_id, (name, _, _) in enumerate(CHANNELS, start=1)}
# status, share for orders older than ten days
SETTLED_STATUSES = {"completed": 905, "cancelled": 50, "refunded": 45}
PAYMENT_METHODS = {"card": 68, "paypal": 20, "apple_pay": 8, "bank_transfer": 4}
CARD_BRANDS = {"visa": 55, "mastercard": 30, "amex": 15}
# order status -> its payments' status (a cancelled order's payment is voided, or failed in the first place)
PAYMENT_STATUS = {
    "pending": "authorized", "shipped": "captured", "completed": "captured", "refunded": "refunded", "cancelled": "voided",
}


@dataclass
class Tables:
    """Each table as named columns of equal length, in insertion order (parents first)."""

    columns: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any]) -> None:
        target = self.columns.setdefault(table, {name: [] for name in row})
        for name, value in row.items():
            target[name].append(value)

    def rows(self, table: str) -> int:
        return len(next(iter(self.columns[table].values())))


def _pick(rng: random.Random, shares: dict[str, int]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


@dataclass
class _Customer:
    signup: int  # day offset (negative: before the window)
    created_at: datetime
    channel_id: int
    row: dict[str, Any]  # the customers row; its customer_id is given once customers are sorted by signup


@dataclass
class _OrderDraft:
    customer: _Customer
    ordered_at: datetime
    channel_id: int
    is_first: bool


@dataclass
class _Product:
    product_id: int
    category: str
    price: int  # cents, before the price rise
    launched: int  # day offset (negative: before the window)
    discontinued: int | None
    weight: float


class _Shop:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.tables = Tables()
        self.campaigns: dict[int, list[tuple[int, int, int]]] = {}  # channel -> [(first day, last day, campaign)]
        self.products: list[_Product] = []
        self._day_choices: dict[int, tuple[list[_Product], list[float]]] = {}

    # -- reference data ------------------------------------------------------------------------------------------
    def channels(self) -> None:
        for channel_id, (name, kind, _) in enumerate(CHANNELS, start=1):
            row = {"channel_id": channel_id, "name": name, "channel_type": kind, "is_paid": kind == "paid"}
            self.tables.add("marketing_channels", row)

    def campaign_rows(self) -> None:
        rng = self.rng
        campaign_id = 0
        for channel_id, (name, _, _) in enumerate(CHANNELS, start=1):
            if name not in CAMPAIGN_CHANNELS:
                continue
            first = rng.randint(0, 30)
            while first < DAYS - 20:
                length = rng.randint(35, 80)
                last = min(DAYS - 1, first + length)
                campaign_id += 1
                start = day(first)
                theme = "Black Friday" if start.month in (10, 11) else rng.choice(CAMPAIGN_THEMES)
                self.campaigns.setdefault(channel_id, []).append((first, last, campaign_id))
                self.tables.add(
                    "campaigns",
                    {
                        "campaign_id": campaign_id,
                        "channel_id": channel_id,
                        "name": f"{name} - {theme} {start.year}",
                        "started_on": start,
                        "ended_on": day(last),
                        "budget_cents": rng.randint(20, 300) * 10_000,
                    },
                )
                first = last + rng.randint(3, 25)

    def product_rows(self) -> None:
        rng = self.rng
        ranks = list(range(PRODUCTS))
        rng.shuffle(ranks)  # popularity rank independent of category and id
        categories = list(CATEGORIES)
        for index in range(PRODUCTS):
            product_id = index + 1
            category = categories[index % len(categories)] if index < 2 * len(categories) else rng.choice(categories)
            subcategories, median, _ = CATEGORIES[category]
            subcategory = rng.choice(subcategories)
            price = max(499, int(round(median * rng.lognormvariate(0, 0.45) / 100)) * 100 - 1)  # 44.99-style
            launched = rng.randint(-900, -30) if rng.random() < 0.8 else rng.randint(0, DAYS - 60)
            discontinued = rng.randint(max(launched, 0) + 60, DAYS - 1) if rng.random() < 0.06 else None
            weight = 1.0 / (ranks[index] + 4) ** 1.15
            product = _Product(product_id, category, price, launched, discontinued, weight)
            self.products.append(product)
            rise = PRICE_RISE if discontinued is None or day(discontinued) >= PRICE_RISE_ON else 1.0
            self.tables.add(
                "products",
                {
                    "product_id": product_id,
                    "sku": f"{category[:3].upper()}-{product_id:05d}",
                    "name": f"{rng.choice(ADJECTIVES)} {subcategory.removesuffix('s')} {rng.randint(1, 9)}",
                    "category": category,
                    "subcategory": subcategory,
                    "unit_price_cents": int(round(price * rise)),
                    "unit_cost_cents": int(round(price * rng.uniform(0.32, 0.62))),
                    "launched_on": day(launched),
                    "discontinued_on": day(discontinued) if discontinued is not None else None,
                },
            )

    def _choices_for(self, offset: int) -> tuple[list[_Product], list[float]]:
        """Products on sale that day, with cumulative weights including the category's season (built once a day)."""
        d = day(offset)
        cached = self._day_choices.get(offset)
        if cached is None:
            on_sale = [
                p for p in self.products if p.launched <= offset and (p.discontinued is None or p.discontinued > offset)
            ]
            cumulative: list[float] = []
            total = 0.0
            for p in on_sale:
                total += p.weight * (1.7 if d.month in CATEGORIES[p.category][2] else 1.0)
                cumulative.append(total)
            cached = self._day_choices[offset] = (on_sale, cumulative)
        return cached

    # -- customers and their orders ------------------------------------------------------------------------------
    def customers_and_orders(self) -> None:
        """Customers, then every order of every customer: ids are given in time order (customers by signup, orders
        and payments by when they were placed), as a shop's own sequences would."""
        customers = sorted((self._customer() for _ in range(CUSTOMERS)), key=lambda c: c.created_at)
        orders: list[_OrderDraft] = []
        for customer_id, customer in enumerate(customers, start=1):
            row = customer.row
            email = f"{row['first_name']}.{row['last_name']}.{customer_id}@example.com"
            row.update(customer_id=customer_id, email=email.lower().replace("'", "").replace("ü", "ue"))
            self.tables.add("customers", {"customer_id": customer_id, "email": row["email"], **row})
            orders += self._order_drafts(customer)
        orders.sort(key=lambda o: (o.ordered_at, o.customer.row["customer_id"]))
        payment_id = 0
        for order_id, draft in enumerate(orders, start=1):
            payment_id = self._order(order_id, draft, payment_id)

    def _customer(self) -> _Customer:
        rng = self.rng
        signup = -rng.randint(1, 730) if rng.random() < EXISTING_SHARE else seasonal_day(rng)
        channel_id = rng.choices(range(1, len(CHANNELS) + 1), weights=[share for _, _, share in CHANNELS])[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created_at = moment(rng, signup)  # timeline.moment takes negative offsets too
        return _Customer(
            signup=signup,
            created_at=created_at,
            channel_id=channel_id,
            row={
                "first_name": first,
                "last_name": last,
                "country": _pick(rng, COUNTRIES),
                "segment": "business" if rng.random() < 0.12 else "consumer",
                "acquisition_channel_id": channel_id,
                "created_at": created_at,
                "birth_year": None if rng.random() < 0.3 else rng.randint(1950, 2005),
                "marketing_opt_in": rng.random() < 0.55,
            },
        )

    def _order_drafts(self, customer: _Customer) -> list[_OrderDraft]:
        """When, through which channel, and whether it is the customer's first order, for each order a customer
        places in the window. A new customer's first order follows the signup (at once for most); an existing
        customer's first order is before the window, so all of theirs are repeats."""
        rng = self.rng
        if rng.random() < 0.16:  # signed up, never bought (or stopped buying before the window)
            return []
        existing = customer.signup < 0
        first = 0 if existing else customer.signup + (0 if rng.random() < 0.55 else int(rng.expovariate(1 / 20)))
        if first >= DAYS:
            return []
        years_left = (DAYS - first) / 365
        repeats = int((rng.paretovariate(REPEAT_SHAPE) - 1 + (1 if existing else 0)) * REPEAT_PER_YEAR * years_left)
        days = sorted([seasonal_day(rng, first, DAYS - 1) for _ in range(min(repeats, 80))] + ([] if existing else [first]))
        repeat_channels = [CHANNEL_IDS[name] for name in ("Email", "Direct", "Organic Search")] + [customer.channel_id]
        drafts: list[_OrderDraft] = []
        for index, offset in enumerate(days):
            is_first = index == 0 and not existing
            channel = customer.channel_id if is_first else rng.choices(repeat_channels, weights=[35, 30, 15, 20])[0]
            at = moment(rng, offset)
            if at <= customer.created_at:  # the signup day: orders follow the signup by minutes
                at = min(customer.created_at + timedelta(seconds=rng.randint(60, 3600)), LAST_MOMENT)
            drafts.append(_OrderDraft(customer, at, channel, is_first))
        return drafts

    def _campaign(self, channel_id: int, offset: int) -> int | None:
        for first, last, campaign_id in self.campaigns.get(channel_id, ()):
            if first <= offset <= last:
                return campaign_id if self.rng.random() < 0.8 else None
        return None

    def _coupon(self, draft: _OrderDraft) -> tuple[str | None, int]:
        """(coupon code, percent off) for an order."""
        rng = self.rng
        if is_black_friday_week(draft.ordered_at.date()) and rng.random() < 0.4:
            return "BFCM25", 25
        if draft.is_first and rng.random() < 0.22:
            return "WELCOME10", 10
        if draft.channel_id == CHANNEL_IDS["Email"] and rng.random() < 0.18:
            return "EMAIL15", 15
        return None, 0

    def _lines(self, draft: _OrderDraft, offset: int) -> list[tuple[int, int, int]]:
        """(product, quantity, unit price in cents) of each line: popular products more often, no product twice."""
        rng = self.rng
        on_sale, cumulative = self._choices_for(offset)
        rise = PRICE_RISE if draft.ordered_at.date() >= PRICE_RISE_ON else 1.0
        business = draft.customer.row["segment"] == "business"
        lines: list[tuple[int, int, int]] = []
        seen: set[int] = set()
        for _ in range(1 + min(7, int(rng.expovariate(1 / 1.7)))):
            product = rng.choices(on_sale, cum_weights=cumulative)[0]
            if product.product_id in seen:
                continue
            seen.add(product.product_id)
            quantity = rng.choices((1, 2, 3, 4, 5), weights=(78, 15, 4, 2, 1))[0]
            if business and rng.random() < 0.3:
                quantity *= 3
            lines.append((product.product_id, quantity, int(round(product.price * rise))))
        return lines

    def _status(self, ordered_at: datetime) -> tuple[str, datetime | None]:
        """(status, shipped_at): recent orders are still pending or on their way; older ones settled."""
        rng = self.rng
        age = (REFERENCE_DATE - ordered_at.date()).days
        if age <= 2:
            status = "pending" if rng.random() < 0.6 else "shipped"
        elif age <= 10:
            status = "shipped" if rng.random() < 0.7 else "completed"
        else:
            status = _pick(rng, SETTLED_STATUSES)
        if status not in ("shipped", "completed", "refunded"):
            return status, None
        shipped_at = ordered_at + timedelta(hours=rng.randint(6, 96))
        if shipped_at.date() > REFERENCE_DATE:  # would leave the warehouse after the reference date
            return "pending", None
        return status, shipped_at

    def _order(self, order_id: int, draft: _OrderDraft, payment_id: int) -> int:
        """The order, its lines and its payments; the last payment id used."""
        rng = self.rng
        offset = (draft.ordered_at.date() - START_DATE).days
        coupon, percent = self._coupon(draft)
        lines = self._lines(draft, offset)
        subtotal = sum(quantity * price for _, quantity, price in lines)
        discount = subtotal * percent // 100
        shipping = 0 if subtotal - discount >= FREE_SHIPPING_FROM else SHIPPING_FEE
        total = subtotal - discount + shipping
        status, shipped_at = self._status(draft.ordered_at)
        country = draft.customer.row["country"]
        self.tables.add(
            "orders",
            {
                "order_id": order_id,
                "customer_id": draft.customer.row["customer_id"],
                "ordered_at": draft.ordered_at,
                "status": status,
                "channel_id": draft.channel_id,
                "campaign_id": self._campaign(draft.channel_id, offset),
                "coupon_code": coupon,
                "shipping_country": country if rng.random() < 0.95 else _pick(rng, COUNTRIES),
                "subtotal_cents": subtotal,
                "discount_cents": discount,
                "shipping_cents": shipping,
                "total_cents": total,
                "shipped_at": shipped_at,
            },
        )
        allocated = 0
        for line_number, (product_id, quantity, price) in enumerate(lines, start=1):
            last = line_number == len(lines)  # the last line takes the rounding remainder: lines sum to the order
            share = discount - allocated if last else discount * quantity * price // max(subtotal, 1)
            allocated += share
            self.tables.add(
                "order_items",
                {
                    "order_id": order_id,
                    "line_number": line_number,
                    "product_id": product_id,
                    "quantity": quantity,
                    "unit_price_cents": price,
                    "discount_cents": share,
                },
            )
        return self._payments(order_id, draft, status, total, payment_id)

    def _payments(self, order_id: int, draft: _OrderDraft, status: str, total: int, payment_id: int) -> int:
        rng = self.rng
        payment_status = PAYMENT_STATUS[status]
        if status == "cancelled" and rng.random() < 0.4:
            payment_status = "failed"
        parts = [total]
        if total > 4_000 and rng.random() < 0.03:  # part paid with a gift card
            gift = rng.randint(1, 4) * 1_000
            parts = [gift, total - gift]
        for index, amount in enumerate(parts):
            payment_id += 1
            if len(parts) == 2 and index == 0:
                method = "gift_card"
            elif draft.customer.row["segment"] == "business" and rng.random() < 0.4:
                method = "bank_transfer"
            else:
                method = _pick(rng, PAYMENT_METHODS)
            self.tables.add(
                "payments",
                {
                    "payment_id": payment_id,
                    "order_id": order_id,
                    "paid_at": draft.ordered_at + timedelta(seconds=rng.randint(5, 900)),
                    "method": method,
                    "card_brand": _pick(rng, CARD_BRANDS) if method == "card" else None,
                    "amount_cents": amount,
                    "status": payment_status,
                },
            )
        return payment_id


def generate(seed: int) -> Tables:
    """Every table's rows for this seed, parents before children."""
    shop = _Shop(seed)
    shop.channels()
    shop.campaign_rows()
    shop.product_rows()
    shop.customers_and_orders()
    return shop.tables


__all__ = ["Tables", "generate"]
