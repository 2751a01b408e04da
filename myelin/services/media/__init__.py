"""The media repository (spec: Client-Server API, "Content repository").

``MediaRepository`` (uploads, downloads, thumbnails, quotas, deletion) over a ``MediaBackend``
(``LocalMediaBackend``: sharded, content-addressed files) and ``UrlPreviewer`` (URL previews
with IP filtering after DNS resolution).
"""

from myelin.services.media.backend import BlobWriter, LocalMediaBackend, MediaBackend, StagedBlob
from myelin.services.media.repository import (
    MediaRepository,
    MediaSettings,
    RemoteMedia,
    RemoteMediaFetcher,
    StoredFile,
)

__all__ = [
    "BlobWriter",
    "LocalMediaBackend",
    "MediaBackend",
    "MediaRepository",
    "MediaSettings",
    "RemoteMedia",
    "RemoteMediaFetcher",
    "StagedBlob",
    "StoredFile",
]
