-- Myelin schema version 7: the media repository (Client-Server API, "Content repository").

-- Stored files, content-addressed: one row per distinct sha256, with how many media rows use
-- it. The file lives under the storage backend's key derived from the hash.
CREATE TABLE media_blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    refcount BIGINT NOT NULL
);

-- Local media: one row per media ID (created by POST /media/v1/create before any content,
-- or by an upload). sha256 is NULL until content is uploaded. unauthenticated_allowed says
-- whether the legacy unauthenticated /_matrix/media/v3/ download endpoints may serve it.
CREATE TABLE local_media (
    media_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    content_type TEXT,
    upload_name TEXT,
    size BIGINT,
    sha256 TEXT,
    created_ts BIGINT NOT NULL,
    unused_expires_ts BIGINT,
    last_access_ts BIGINT,
    quarantined BOOLEAN NOT NULL DEFAULT FALSE,
    unauthenticated_allowed BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX local_media_user ON local_media (user_id, created_ts);
CREATE INDEX local_media_created ON local_media (created_ts);
CREATE INDEX local_media_sha256 ON local_media (sha256);

-- Thumbnails of local media, generated on upload or on demand and cached.
CREATE TABLE local_media_thumbnails (
    media_id TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    method TEXT NOT NULL,
    animated BOOLEAN NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (media_id, width, height, method, animated, content_type)
);
