-- Commerce: catalog (books, embeddings, ratings, precomputed "also liked"), carts, quotes, orders.
-- Money is integer cents. Order ids are random and opaque (never sequential).

CREATE TABLE IF NOT EXISTS books (
    isbn13       text PRIMARY KEY CHECK (isbn13 ~ '^97[89][0-9]{10}$'),
    isbn10       text UNIQUE CHECK (isbn10 IS NULL OR isbn10 ~ '^[0-9]{9}[0-9X]$'),
    title        text NOT NULL CHECK (btrim(title) <> ''),
    author       text NOT NULL DEFAULT '',
    year         smallint CHECK (year IS NULL OR year BETWEEN 1000 AND 2100),
    publisher    text NOT NULL DEFAULT '',
    description  text NOT NULL DEFAULT '',
    genres       text[] NOT NULL DEFAULT '{}',
    price_cents  integer NOT NULL CHECK (price_cents >= 0),
    currency     text NOT NULL DEFAULT 'USD',
    stock        integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
    cover_url    text,
    -- true when price and stock are generated demo values (Book-Crossing has neither)
    demo         boolean NOT NULL DEFAULT false,
    source       text NOT NULL DEFAULT 'import',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 90);

CREATE INDEX IF NOT EXISTS books_title_trgm ON books USING gin (title gin_trgm_ops);
CREATE INDEX IF NOT EXISTS books_author_trgm ON books USING gin (author gin_trgm_ops);
CREATE INDEX IF NOT EXISTS books_title_lower ON books (lower(title));
CREATE INDEX IF NOT EXISTS books_price ON books (price_cents);
CREATE INDEX IF NOT EXISTS books_year ON books (year);

-- Catalog text embeddings (title + author + publisher), kept apart from books so that embedding the
-- catalog in the background never rewrites book rows (stock updates stay HOT, trigram indexes calm).
CREATE TABLE IF NOT EXISTS book_embeddings (
    isbn13     text PRIMARY KEY REFERENCES books (isbn13) ON DELETE CASCADE,
    embedding  vector(384) NOT NULL,
    model      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS book_embeddings_hnsw ON book_embeddings USING hnsw (embedding vector_cosine_ops);

-- Reader ratings (Book-Crossing: 0 = implicit interaction, 1-10 explicit).
CREATE TABLE IF NOT EXISTS ratings (
    user_id integer NOT NULL,
    isbn13  text NOT NULL,
    rating  smallint NOT NULL CHECK (rating BETWEEN 0 AND 10),
    PRIMARY KEY (user_id, isbn13)
);

-- Derived from ratings (no foreign key: rebuilt in bulk).
CREATE TABLE IF NOT EXISTS book_stats (
    isbn13         text PRIMARY KEY,
    rating_count   integer NOT NULL DEFAULT 0,
    explicit_count integer NOT NULL DEFAULT 0,
    rating_avg     real
);
CREATE INDEX IF NOT EXISTS book_stats_popular ON book_stats (rating_count DESC);

-- The most-read books (top by rating count), searched first: a common word matches thousands of
-- titles in the whole catalog but only hundreds here, which keeps search latency flat.
CREATE TABLE IF NOT EXISTS book_search_hot (
    isbn13 text PRIMARY KEY,
    title  text NOT NULL,
    author text NOT NULL,
    pop    integer NOT NULL
);
CREATE INDEX IF NOT EXISTS book_search_hot_title_trgm ON book_search_hot USING gin (title gin_trgm_ops);
CREATE INDEX IF NOT EXISTS book_search_hot_author_trgm ON book_search_hot USING gin (author gin_trgm_ops);

-- "Readers who liked X also liked Y", precomputed at ratings import (item-item cosine).
CREATE TABLE IF NOT EXISTS book_similar (
    isbn13       text NOT NULL,
    other_isbn13 text NOT NULL,
    score        real NOT NULL,
    co_count     integer NOT NULL,
    high_count   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (isbn13, other_isbn13)
);

CREATE TABLE IF NOT EXISTS carts (
    principal  text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS cart_items (
    principal text NOT NULL REFERENCES carts (principal) ON DELETE CASCADE,
    isbn13    text NOT NULL REFERENCES books (isbn13),
    quantity  integer NOT NULL CHECK (quantity > 0),
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, isbn13)
);

-- A quote fixes prices for a short time; its HMAC-signed token is what place_order accepts.
CREATE TABLE IF NOT EXISTS quotes (
    id          text PRIMARY KEY,
    principal   text NOT NULL,
    items       jsonb NOT NULL,
    total_cents bigint NOT NULL CHECK (total_cents >= 0),
    currency    text NOT NULL DEFAULT 'USD',
    from_cart   boolean NOT NULL DEFAULT false,
    token_hash  text NOT NULL,
    expires_at  timestamptz NOT NULL,
    order_id    text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS quotes_principal ON quotes (principal, created_at DESC);

CREATE TABLE IF NOT EXISTS orders (
    id              text PRIMARY KEY,
    principal       text NOT NULL,
    status          text NOT NULL DEFAULT 'placed'
                    CHECK (status IN ('placed', 'shipped', 'delivered', 'cancelled')),
    total_cents     bigint NOT NULL CHECK (total_cents >= 0),
    currency        text NOT NULL DEFAULT 'USD',
    demo_price      boolean NOT NULL DEFAULT false,
    quote_id        text NOT NULL REFERENCES quotes (id),
    -- idempotency: one key never creates two orders for one principal
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    shipped_at      timestamptz,
    cancelled_at    timestamptz,
    CONSTRAINT orders_idempotency UNIQUE (principal, idempotency_key)
);
CREATE INDEX IF NOT EXISTS orders_principal ON orders (principal, created_at DESC);

CREATE TABLE IF NOT EXISTS order_items (
    order_id         text NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line             smallint NOT NULL,
    isbn13           text NOT NULL REFERENCES books (isbn13),
    title            text NOT NULL,
    author           text NOT NULL DEFAULT '',
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents integer NOT NULL CHECK (unit_price_cents >= 0),
    line_total_cents bigint NOT NULL CHECK (line_total_cents >= 0),
    PRIMARY KEY (order_id, isbn13)
);
