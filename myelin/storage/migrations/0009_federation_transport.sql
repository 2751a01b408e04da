-- Myelin schema version 9: federation transport (Server-Server API, "Retrieving server keys"
-- and "Server discovery"; destination backoff is server internals).

-- Remote servers' signing keys, as fetched directly or through a notary. key_json is the
-- whole signed key response it came from (served again when we act as a notary);
-- valid_until_ts is that response's valid_until_ts; expired_ts is set for old_verify_keys
-- (the key stopped being used then) and NULL for current keys.
CREATE TABLE server_signing_keys (
    server_name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    verify_key TEXT NOT NULL,
    valid_until_ts BIGINT NOT NULL,
    expired_ts BIGINT,
    fetched_ts BIGINT NOT NULL,
    PRIMARY KEY (server_name, key_id)
);

-- The latest signed key response of each remote server (for notary answers).
CREATE TABLE server_key_responses (
    server_name TEXT NOT NULL PRIMARY KEY,
    key_json TEXT NOT NULL,
    valid_until_ts BIGINT NOT NULL,
    fetched_ts BIGINT NOT NULL
);

-- Backoff per destination: after failures, no request is sent before retry_after_ts;
-- retry_interval_ms is the current (exponentially growing, capped) interval. A destination
-- with no row (or retry_interval_ms 0) is up.
CREATE TABLE destination_backoff (
    destination TEXT NOT NULL PRIMARY KEY,
    failure_ts BIGINT NOT NULL,
    retry_after_ts BIGINT NOT NULL,
    retry_interval_ms BIGINT NOT NULL
);
