-- Myelin schema version 11: media of other servers (Server-Server API, "Content Repository";
-- Client-Server API, "Content repository").

-- Remote media fetched over federation and cached: one row per (origin, media_id). The bytes
-- live in the backend under sha256 like local media, counted in media_blobs.
CREATE TABLE remote_media (
    origin TEXT NOT NULL,
    media_id TEXT NOT NULL,
    content_type TEXT NOT NULL,
    upload_name TEXT,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    last_access_ts BIGINT NOT NULL,
    quarantined BOOLEAN NOT NULL,
    PRIMARY KEY (origin, media_id)
);
CREATE INDEX remote_media_access ON remote_media (last_access_ts);

-- Thumbnails of cached remote media, generated locally on first request and cached.
CREATE TABLE remote_media_thumbnails (
    origin TEXT NOT NULL,
    media_id TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    method TEXT NOT NULL,
    animated BOOLEAN NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (origin, media_id, width, height, method, animated)
);
