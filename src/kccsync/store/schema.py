"""The database schema as an ordered list of migrations keyed by `PRAGMA user_version`.

Migration N brings a database from version N-1 to N. Never edit a released
migration: append a new one.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the whole mission's schema.
    """
    CREATE TABLE channels (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        type        TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );

    -- Orders as downloaded: raw channel payload plus kccsync's state.
    CREATE TABLE channel_orders (
        id              INTEGER PRIMARY KEY,
        channel_id      INTEGER NOT NULL REFERENCES channels(id),
        order_id        TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN
                            ('pending', 'imported', 'failed', 'ignored', 'cancelled')),
        channel_status  TEXT NOT NULL,
        fulfillment     TEXT NOT NULL CHECK (fulfillment IN ('MFN', 'AFN')),
        marketplace_id  TEXT NOT NULL,
        purchase_date   TEXT NOT NULL,
        last_update     TEXT NOT NULL,
        raw_order       TEXT NOT NULL,
        -- 'needed': items must be downloaded; 'done': stored; 'inline': came with the order
        items_state     TEXT NOT NULL DEFAULT 'needed'
                            CHECK (items_state IN ('needed', 'done', 'inline')),
        -- set by Retry download: the order itself is fetched again, then its items
        redownload      INTEGER NOT NULL DEFAULT 0,
        error           TEXT,
        cancelled_after_import INTEGER NOT NULL DEFAULT 0,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        UNIQUE (channel_id, order_id)
    );
    CREATE INDEX channel_orders_work ON channel_orders (channel_id, state, items_state);

    CREATE TABLE channel_order_items (
        id               INTEGER PRIMARY KEY,
        channel_order_id INTEGER NOT NULL REFERENCES channel_orders(id) ON DELETE CASCADE,
        order_item_id    TEXT NOT NULL,
        seller_sku       TEXT,
        raw_item         TEXT NOT NULL,
        UNIQUE (channel_order_id, order_item_id)
    );

    CREATE TABLE stock_items (
        id          INTEGER PRIMARY KEY,
        code        TEXT NOT NULL UNIQUE,
        description TEXT,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE stock_skus (
        sku            TEXT PRIMARY KEY,
        stock_item_id  INTEGER NOT NULL REFERENCES stock_items(id)
    );

    CREATE TABLE customers (
        id          INTEGER PRIMARY KEY,
        code        TEXT NOT NULL UNIQUE,
        channel_id  INTEGER NOT NULL REFERENCES channels(id),
        buyer_key   TEXT NOT NULL,
        name        TEXT,
        email       TEXT,
        created_at  TEXT NOT NULL,
        UNIQUE (channel_id, buyer_key)
    );

    -- Monotonic counters (SO numbers, customer numbers): a number is never reused.
    CREATE TABLE counters (
        name   TEXT PRIMARY KEY,
        value  INTEGER NOT NULL
    );

    CREATE TABLE sales_orders (
        id               INTEGER PRIMARY KEY,
        so_code          TEXT NOT NULL UNIQUE,
        channel_order_id INTEGER NOT NULL UNIQUE REFERENCES channel_orders(id),
        customer_id      INTEGER NOT NULL REFERENCES customers(id),
        currency         TEXT,
        goods_total      TEXT,
        shipping_total   TEXT,
        discount_total   TEXT,
        tax_total        TEXT,
        order_total      TEXT,
        prices_include_tax INTEGER NOT NULL DEFAULT 0,
        fulfilled_by_channel INTEGER NOT NULL DEFAULT 0,
        ship_name        TEXT,
        ship_company     TEXT,
        ship_line1       TEXT,
        ship_line2       TEXT,
        ship_line3       TEXT,
        ship_city        TEXT,
        ship_region      TEXT,
        ship_postal_code TEXT,
        ship_country     TEXT,
        ship_phone       TEXT,
        created_at       TEXT NOT NULL,
        issued_at        TEXT
    );
    CREATE TABLE sales_order_lines (
        id              INTEGER PRIMARY KEY,
        sales_order_id  INTEGER NOT NULL REFERENCES sales_orders(id),
        line_no         INTEGER NOT NULL,
        stock_item_id   INTEGER NOT NULL REFERENCES stock_items(id),
        sku             TEXT NOT NULL,
        order_item_id   TEXT NOT NULL,
        description     TEXT,
        quantity        INTEGER NOT NULL,
        line_total      TEXT,
        line_tax        TEXT,
        UNIQUE (sales_order_id, line_no)
    );

    -- One shipping notification per issued (dispatched) sales order.
    CREATE TABLE shipping_notifications (
        id              INTEGER PRIMARY KEY,
        sales_order_id  INTEGER NOT NULL UNIQUE REFERENCES sales_orders(id),
        channel_id      INTEGER NOT NULL REFERENCES channels(id),
        state           TEXT NOT NULL CHECK (state IN
                            ('pending', 'held', 'uploaded', 'failed')),
        carrier_code    TEXT NOT NULL,
        carrier_name    TEXT,
        tracking_number TEXT NOT NULL,
        ship_date       TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        created_at      TEXT NOT NULL,
        uploaded_at     TEXT
    );
    CREATE INDEX shipping_notifications_work ON shipping_notifications (channel_id, state);

    -- The Tasks view: each sync task's last run, last success, last error.
    CREATE TABLE tasks (
        channel_id     INTEGER NOT NULL REFERENCES channels(id),
        task           TEXT NOT NULL,
        last_run       TEXT,
        last_success   TEXT,
        last_error     TEXT,
        last_error_at  TEXT,
        PRIMARY KEY (channel_id, task)
    );

    -- The Notifications view: de-duplicated by (channel, key) while unresolved.
    CREATE TABLE notifications (
        id           INTEGER PRIMARY KEY,
        channel_id   INTEGER NOT NULL REFERENCES channels(id),
        key          TEXT NOT NULL,
        severity     TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
        message      TEXT NOT NULL,
        details      TEXT,
        first_seen   TEXT NOT NULL,
        last_seen    TEXT NOT NULL,
        count        INTEGER NOT NULL DEFAULT 1,
        resolved_at  TEXT
    );
    CREATE UNIQUE INDEX notifications_open ON notifications (channel_id, key)
        WHERE resolved_at IS NULL;

    -- Operator actions, durable until the daemon has carried them out.
    CREATE TABLE actions (
        id               INTEGER PRIMARY KEY,
        channel_order_id INTEGER NOT NULL REFERENCES channel_orders(id),
        action           TEXT NOT NULL CHECK (action IN
                             ('ignore', 'retry_download', 'retry_import')),
        requested_at     TEXT NOT NULL,
        done_at          TEXT,
        result           TEXT
    );
    CREATE INDEX actions_open ON actions (done_at);

    -- Per-channel sync state: watermarks and the like.
    CREATE TABLE sync_state (
        channel_id  INTEGER NOT NULL REFERENCES channels(id),
        key         TEXT NOT NULL,
        value       TEXT NOT NULL,
        PRIMARY KEY (channel_id, key)
    );

    -- Saved token-bucket levels, restored at start with the elapsed time credited.
    CREATE TABLE bucket_state (
        channel_id      INTEGER NOT NULL REFERENCES channels(id),
        operation       TEXT NOT NULL,
        tokens          REAL NOT NULL,
        restore_seconds REAL NOT NULL,
        ceiling_restore_seconds REAL NOT NULL,
        saved_at        TEXT NOT NULL,
        PRIMARY KEY (channel_id, operation)
    );
    """,
    # 2: find orders queued for Retry download without reading every row of the
    # channel (the items loop asks for them before every batch).
    """
    CREATE INDEX channel_orders_redownload ON channel_orders (channel_id, id)
        WHERE redownload = 1;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
