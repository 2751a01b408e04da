-- Myelin schema version 7: the media repository (Client-Server API, "Content repository").

-- Stored files, content-addressed: one row per distinct sha256 (hex), counting the media and
-- thumbnail rows that use it. The storage backend keeps the bytes under that hash; the file is
-- removed when the count drops to zero.
CREATE TABLE media_blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    refcount BIGINT NOT NULL
);

-- Local media: one row per media ID, made by an upload or by POST /media/v1/create (then
-- sha256 and size are NULL until the content arrives, before unused_expires_ts).
-- unauthenticated_allowed: whether the deprecated unauthenticated /_matrix/media/v3 download
-- endpoints may serve it (uploaded while enable_authenticated_media was off).
CREATE TABLE local_media (
    media_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    content_type TEXT,
    upload_name TEXT,
    size BIGINT,
    sha256 TEXT,
    created_ts BIGINT NOT NULL,
    unused_expires_ts BIGINT,
    last_access_ts BIGINT NOT NULL,
    quarantined BOOLEAN NOT NULL,
    unauthenticated_allowed BOOLEAN NOT NULL
);
CREATE INDEX local_media_user ON local_media (user_id, created_ts);
CREATE INDEX local_media_created ON local_media (created_ts);
CREATE INDEX local_media_access ON local_media (last_access_ts);
CREATE INDEX local_media_pending ON local_media (unused_expires_ts);

-- Thumbnails of local media, generated on first request and cached.
CREATE TABLE local_media_thumbnails (
    media_id TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    method TEXT NOT NULL,
    animated BOOLEAN NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (media_id, width, height, method, animated)
);
