"""The demo warehouse's tables, keys, comments and views, as DuckDB DDL.

Money columns are DECIMAL(12,2) in US dollars; timestamps are UTC wall-clock `TIMESTAMP`s. Revenue everywhere (the
views, the column comments) means the order total of orders that were not cancelled or refunded.
"""

from __future__ import annotations

from demo.timeline import REFERENCE_DATE, START_DATE

TABLES = """
CREATE TABLE marketing_channels (
    channel_id   INTEGER PRIMARY KEY,
    name         VARCHAR NOT NULL UNIQUE,
    channel_type VARCHAR NOT NULL,
    is_paid      BOOLEAN NOT NULL
);
CREATE TABLE campaigns (
    campaign_id INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL REFERENCES marketing_channels (channel_id),
    name        VARCHAR NOT NULL,
    started_on  DATE NOT NULL,
    ended_on    DATE NOT NULL,
    budget      DECIMAL(12,2) NOT NULL
);
CREATE TABLE products (
    product_id      INTEGER PRIMARY KEY,
    sku             VARCHAR NOT NULL UNIQUE,
    name            VARCHAR NOT NULL,
    category        VARCHAR NOT NULL,
    subcategory     VARCHAR NOT NULL,
    unit_price      DECIMAL(12,2) NOT NULL,
    unit_cost       DECIMAL(12,2) NOT NULL,
    launched_on     DATE NOT NULL,
    discontinued_on DATE
);
CREATE TABLE customers (
    customer_id            INTEGER PRIMARY KEY,
    email                  VARCHAR NOT NULL UNIQUE,
    first_name             VARCHAR NOT NULL,
    last_name              VARCHAR NOT NULL,
    country                VARCHAR NOT NULL,
    segment                VARCHAR NOT NULL,
    acquisition_channel_id INTEGER NOT NULL REFERENCES marketing_channels (channel_id),
    created_at             TIMESTAMP NOT NULL,
    birth_year             INTEGER,
    marketing_opt_in       BOOLEAN NOT NULL
);
CREATE TABLE orders (
    order_id         INTEGER PRIMARY KEY,
    customer_id      INTEGER NOT NULL REFERENCES customers (customer_id),
    ordered_at       TIMESTAMP NOT NULL,
    status           VARCHAR NOT NULL,
    channel_id       INTEGER NOT NULL REFERENCES marketing_channels (channel_id),
    campaign_id      INTEGER REFERENCES campaigns (campaign_id),
    coupon_code      VARCHAR,
    shipping_country VARCHAR NOT NULL,
    subtotal         DECIMAL(12,2) NOT NULL,
    discount         DECIMAL(12,2) NOT NULL,
    shipping_fee     DECIMAL(12,2) NOT NULL,
    total            DECIMAL(12,2) NOT NULL,
    shipped_at       TIMESTAMP
);
CREATE TABLE order_items (
    order_id    INTEGER NOT NULL REFERENCES orders (order_id),
    line_number INTEGER NOT NULL,
    product_id  INTEGER NOT NULL REFERENCES products (product_id),
    quantity    INTEGER NOT NULL,
    unit_price  DECIMAL(12,2) NOT NULL,
    discount    DECIMAL(12,2) NOT NULL,
    PRIMARY KEY (order_id, line_number)
);
CREATE TABLE payments (
    payment_id INTEGER PRIMARY KEY,
    order_id   INTEGER NOT NULL REFERENCES orders (order_id),
    paid_at    TIMESTAMP NOT NULL,
    method     VARCHAR NOT NULL,
    card_brand VARCHAR,
    amount     DECIMAL(12,2) NOT NULL,
    status     VARCHAR NOT NULL
);
"""

#: generated column name -> the stored column, for money generated as integer cents
CENTS_COLUMNS = {
    "budget_cents": "budget",
    "unit_price_cents": "unit_price",
    "unit_cost_cents": "unit_cost",
    "subtotal_cents": "subtotal",
    "discount_cents": "discount",
    "shipping_cents": "shipping_fee",
    "total_cents": "total",
    "amount_cents": "amount",
}

_WINDOW = f"{START_DATE.isoformat()} to {REFERENCE_DATE.isoformat()}"
_REVENUE = "orders not cancelled or refunded"

TABLE_COMMENTS = {
    "marketing_channels": "Where customers and orders come from: search, social, email, affiliates, direct traffic.",
    "campaigns": "Marketing campaigns run on a paid or owned channel, each for a date range and a budget.",
    "products": "The product catalog, current list prices included (prices rose 4 % on 2025-01-01).",
    "customers": "Everyone with an account; some signed up before the data window and only their later orders are here.",
    "orders": f"Customer orders placed from {_WINDOW} (the demo's reference date), one row per order, amounts in USD.",
    "order_items": "The lines of each order: which product, how many, at what price.",
    "payments": "Payments taken for orders; an order is usually paid once, sometimes split with a gift card.",
}

COLUMN_COMMENTS = {
    "marketing_channels": {
        "channel_id": "Channel identifier.",
        "name": "Channel name, e.g. Paid Search, Email.",
        "channel_type": "paid, organic, owned, referral or direct.",
        "is_paid": "True when the shop pays for the traffic (ads).",
    },
    "campaigns": {
        "campaign_id": "Campaign identifier.",
        "channel_id": "The channel the campaign runs on.",
        "name": "Campaign name: channel, theme and year.",
        "started_on": "First day of the campaign.",
        "ended_on": "Last day of the campaign.",
        "budget": "Planned spend for the whole campaign, USD.",
    },
    "products": {
        "product_id": "Product identifier.",
        "sku": "Stock keeping unit, e.g. APP-00012.",
        "name": "Product name as shown in the shop.",
        "category": "Top-level category: Apparel, Footwear, Accessories, Home, Outdoors, Electronics, Beauty.",
        "subcategory": "Subcategory within the category, e.g. Sneakers.",
        "unit_price": "Current list price, USD (orders keep the price paid at the time).",
        "unit_cost": "What one unit costs the shop, USD; margin = unit_price - unit_cost.",
        "launched_on": "First day the product was on sale.",
        "discontinued_on": "Day the product was taken off sale (not sold from then on); NULL while it is still sold.",
    },
    "customers": {
        "customer_id": "Customer identifier.",
        "email": "Login email (fictional, example.com).",
        "first_name": "Given name.",
        "last_name": "Family name.",
        "country": "ISO 3166 alpha-2 country of the customer's address, e.g. US, GB, DE.",
        "segment": "consumer or business.",
        "acquisition_channel_id": "The marketing channel the customer signed up through.",
        "created_at": "When the account was created (UTC); before the data window for existing customers.",
        "birth_year": "Year of birth; NULL when the customer did not say.",
        "marketing_opt_in": "True when the customer accepts marketing email.",
    },
    "orders": {
        "order_id": "Order identifier.",
        "customer_id": "The customer who placed the order.",
        "ordered_at": "When the order was placed (UTC).",
        "status": f"pending, shipped, completed, cancelled or refunded. Revenue counts {_REVENUE}.",
        "channel_id": "The marketing channel the order is attributed to (last touch).",
        "campaign_id": "The campaign the order is attributed to; NULL when none.",
        "coupon_code": "Coupon used (WELCOME10, EMAIL15, BFCM25); NULL when none.",
        "shipping_country": "ISO 3166 alpha-2 country the order ships to.",
        "subtotal": "Sum of quantity x unit_price over the order's items, USD.",
        "discount": "Coupon discount on the order, USD.",
        "shipping_fee": "Shipping charged, USD (free from 75 USD after discount).",
        "total": "What the customer pays: subtotal - discount + shipping_fee, USD.",
        "shipped_at": "When the order left the warehouse (UTC); NULL if not shipped.",
    },
    "order_items": {
        "order_id": "The order this line belongs to.",
        "line_number": "Position of the line in the order, from 1.",
        "product_id": "The product ordered.",
        "quantity": "Units ordered.",
        "unit_price": "Price of one unit when ordered, USD.",
        "discount": "Share of the order's coupon discount on this line, USD.",
    },
    "payments": {
        "payment_id": "Payment identifier.",
        "order_id": "The order paid.",
        "paid_at": "When the payment was made (UTC).",
        "method": "card, paypal, apple_pay, bank_transfer or gift_card.",
        "card_brand": "visa, mastercard or amex for card payments; NULL otherwise.",
        "amount": "Amount paid, USD.",
        "status": "authorized, captured, refunded, voided or failed.",
    },
}

VIEWS = {
    "monthly_revenue": (
        f"Revenue ({_REVENUE}), orders, buying customers and average order value per calendar month.",
        """
SELECT date_trunc('month', ordered_at)::DATE AS month,
       count(*) AS orders,
       count(DISTINCT customer_id) AS customers,
       sum(total) AS revenue,
       round(avg(total), 2) AS average_order_value
  FROM orders
 WHERE status NOT IN ('cancelled', 'refunded')
 GROUP BY 1
""",
    ),
    "revenue_by_channel": (
        f"Revenue ({_REVENUE}) and orders per quarter and marketing channel (last-touch attribution).",
        """
SELECT date_trunc('quarter', o.ordered_at)::DATE AS quarter,
       c.name AS channel,
       c.channel_type,
       count(*) AS orders,
       sum(o.total) AS revenue
  FROM orders o
  JOIN marketing_channels c ON c.channel_id = o.channel_id
 WHERE o.status NOT IN ('cancelled', 'refunded')
 GROUP BY 1, 2, 3
""",
    ),
    "customer_lifetime_value": (
        f"Per customer: first and last order, number of orders and revenue ({_REVENUE}) in the data window.",
        """
SELECT c.customer_id,
       c.country,
       c.segment,
       min(o.ordered_at) AS first_order_at,
       max(o.ordered_at) AS last_order_at,
       count(o.order_id) AS orders,
       coalesce(sum(o.total), 0) AS revenue
  FROM customers c
  LEFT JOIN orders o ON o.customer_id = c.customer_id AND o.status NOT IN ('cancelled', 'refunded')
 GROUP BY 1, 2, 3
""",
    ),
}

__all__ = ["CENTS_COLUMNS", "COLUMN_COMMENTS", "TABLES", "TABLE_COMMENTS", "VIEWS"]
