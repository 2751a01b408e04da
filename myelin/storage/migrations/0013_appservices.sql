-- Application services (spec: Application Service API): the durable transaction queue of each
-- registered application service and its published room directories.

-- How far through the event stream each application service has been given its events, and
-- the next transaction ID to use.
CREATE TABLE appservice_stream (
    appservice_id TEXT PRIMARY KEY,
    stream_position BIGINT NOT NULL,
    next_txn_id BIGINT NOT NULL
);

-- Transactions built but not yet acknowledged by the application service, sent in txn_id
-- order; the body is kept exactly as first built so that retries never alter it.
CREATE TABLE appservice_txns (
    appservice_id TEXT NOT NULL,
    txn_id BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (appservice_id, txn_id)
);

-- PUT /directory/list/appservice/{networkId}/{roomId}: rooms an application service publishes.
CREATE TABLE appservice_room_list (
    appservice_id TEXT NOT NULL,
    network_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (appservice_id, network_id, room_id)
);
