-- Myelin schema version 10: federation, the room side (Server-Server API, "Transactions",
-- "PDUs", "EDUs"; the outbound queue is server internals).

-- Inbound transactions already processed, per origin: a retried PUT /send/{txnId} gets the
-- same response without processing the PDUs and EDUs again.
CREATE TABLE received_transactions (
    origin TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    response_json TEXT NOT NULL,
    received_ts BIGINT NOT NULL,
    PRIMARY KEY (origin, txn_id)
);

-- The durable outbound queue, one row per item waiting for a destination: a PDU (event_id
-- set) or an EDU (edu_json set). Rows are deleted once a transaction holding them succeeds,
-- so items waiting for a peer that is down survive a restart.
CREATE TABLE federation_outbox (
    id BIGINT NOT NULL,
    destination TEXT NOT NULL,
    event_id TEXT,
    edu_json TEXT,
    queued_ts BIGINT NOT NULL,
    PRIMARY KEY (destination, id)
);

CREATE INDEX federation_outbox_event ON federation_outbox (event_id);
-- Outbox ids come from this counter (monotonic across destinations: queue order).
INSERT INTO stream_positions (stream, pos) VALUES ('federation_outbox', 0);

-- Per destination: the last transaction number used (transaction IDs must be unique per
-- origin and destination, across restarts).
CREATE TABLE federation_destinations (
    destination TEXT NOT NULL PRIMARY KEY,
    last_txn_id BIGINT NOT NULL DEFAULT 0
);
