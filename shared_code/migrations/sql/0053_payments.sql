-- Payments: a course's currency, the purchases Lectern creates with a provider, refunds or
-- disputes that arrive before their payment, and an enrolment a full refund has ended.

-- ISO 4217 code in capitals; the app fills it from PAYMENT_DEFAULT_CURRENCY on create.
ALTER TABLE courses ADD COLUMN currency text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$');

-- A refunded enrolment stays (its progress with it) but no longer counts as membership.
ALTER TABLE enrollments ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'refunded'));

CREATE TABLE purchases (
    id             uuid PRIMARY KEY,
    provider       text NOT NULL CHECK (provider IN ('stripe', 'razorpay')),
    -- Stripe Checkout Session id (cs_...) or Razorpay Order id (order_...).
    provider_ref   text NOT NULL,
    course_id      uuid NOT NULL REFERENCES courses(id) ON DELETE RESTRICT,
    user_id        uuid NOT NULL REFERENCES users(id),
    amount_cents   integer NOT NULL CHECK (amount_cents > 0),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'paid', 'failed', 'refunded', 'disputed')),
    checkout_url   text,
    -- Stripe PaymentIntent id (pi_...) or Razorpay payment id (pay_...), from the paid event;
    -- refunds and disputes name the payment, not the checkout.
    payment_ref    text,
    refunded_cents integer NOT NULL DEFAULT 0,
    paid_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, provider_ref)
);
CREATE INDEX purchases_user_idx ON purchases (user_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX purchases_payment_idx ON purchases (provider, payment_ref) WHERE payment_ref IS NOT NULL;
-- One open checkout per buyer, course and provider: a second click reuses it.
CREATE UNIQUE INDEX purchases_pending_idx ON purchases (course_id, user_id, provider) WHERE status = 'pending';

-- Refunds and disputes that named a payment no purchase has recorded yet (providers
-- reorder deliveries); applied when the payment lands.
CREATE TABLE payment_holds (
    event_id      text PRIMARY KEY REFERENCES payment_events(event_id),
    provider      text NOT NULL,
    payment_ref   text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('refund', 'dispute')),
    amount_cents  integer NOT NULL DEFAULT 0,
    -- Stripe reports the running total refunded; Razorpay each refund on its own.
    cumulative    boolean NOT NULL DEFAULT false,
    currency      text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    applied_at    timestamptz
);
CREATE INDEX payment_holds_open_idx ON payment_holds (provider, payment_ref) WHERE applied_at IS NULL;
