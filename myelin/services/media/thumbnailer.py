"""Thumbnail generation (spec: Client-Server API, "Content repository", "Thumbnails").

Plain synchronous functions over Pillow, run by the repository in a worker thread. The spec's
two methods: ``scale`` keeps the aspect ratio and fits the image inside the box; ``crop``
covers the box and cuts the overflow from the centre, giving the box's aspect ratio. Neither
ever upscales: content smaller than the box stays at its own size. An image is probed from its
header before it is decoded, and one with more pixels than the limit is refused
(``ImageTooLarge``) without decoding it (decompression bombs). Animated sources give an
animated WebP when the client asks for animation (the spec prefers WebP), a static first frame
otherwise.

Pillow is imported by the first call that needs it (in the repository's worker thread), not
with this module: a server that never sees an image does not load it (about 2 MiB).
"""

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL import Image

Method = Literal["crop", "scale"]

# The content types a thumbnail may have (the spec's thumbnail response types).
THUMBNAIL_TYPES = frozenset({"image/jpeg", "image/png", "image/apng", "image/gif", "image/webp"})

_CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}


class CannotThumbnail(Exception):  # noqa: N818 (a condition, not a failure of the server)
    """The content is not an image this server can thumbnail."""


class ImageTooLarge(Exception):  # noqa: N818
    """The image has more pixels than allowed: it is not decoded."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    content_type: str | None
    animated: bool
    frames: int


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    content_type: str
    width: int
    height: int


def _open(path: Path, max_pixels: int) -> "Image.Image":
    """Open (header only) and check the pixel count before anything is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns (or raises) at its global limit; ours is stricter.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise ImageTooLarge(str(e)) from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise CannotThumbnail(str(e)) from e
    width, height = image.size
    if width < 1 or height < 1:
        image.close()
        raise CannotThumbnail("empty image")
    if width * height > max_pixels:
        image.close()
        raise ImageTooLarge(f"{width}x{height} is more than {max_pixels} pixels")
    if image.format not in _CONTENT_TYPES:
        image.close()
        raise CannotThumbnail(f"cannot thumbnail {image.format} images")
    return image


def check_pixels(head: bytes, max_pixels: int) -> None:
    """Refuse (``ImageTooLarge``) an image whose header, found in ``head`` (the first bytes of
    a file), declares more than ``max_pixels`` pixels; nothing is decoded. Bytes that are not
    a recognisable image header pass: they are no image a decoder would expand."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow's own (laxer or stricter) bomb limit must not decide; ours does.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(head)) as image:
                width, height = image.size
    except Image.DecompressionBombError as e:
        # Beyond twice Pillow's limit: refused unless our limit is even higher.
        if Image.MAX_IMAGE_PIXELS is None or max_pixels <= 2 * Image.MAX_IMAGE_PIXELS:
            raise ImageTooLarge(str(e)) from e
        return
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} is more than {max_pixels} pixels")


def probe(path: Path, max_pixels: int) -> ImageInfo:
    """An image's size, type and animation, from its header."""
    with _open(path, max_pixels) as image:
        frames = int(getattr(image, "n_frames", 1))
        return ImageInfo(
            width=image.size[0],
            height=image.size[1],
            content_type=_CONTENT_TYPES.get(image.format or ""),
            animated=bool(getattr(image, "is_animated", False)) and frames > 1,
            frames=frames,
        )


def target_size(width: int, height: int, box_w: int, box_h: int, method: Method) -> tuple[int, int]:
    """The size of the thumbnail of a ``width`` x ``height`` image for the box (no upscaling)."""
    if method == "scale":
        ratio = min(box_w / width, box_h / height)
        if ratio >= 1:
            return width, height
        # Fit inside the box; the side that touches it gets exactly the box's length.
        if box_w * height < box_h * width:
            return box_w, max(1, (box_w * height) // width)
        return max(1, (box_h * width) // height), box_h
    # crop: the box's aspect ratio, at most the box's size.
    if width >= box_w and height >= box_h:
        return box_w, box_h
    # Too small to cover the box: the largest centred region with the box's aspect ratio.
    crop_w = min(width, max(1, math.floor(height * box_w / box_h)))
    crop_h = min(height, max(1, math.floor(width * box_h / box_w)))
    return crop_w, crop_h


def _resize(frame: "Image.Image", box_w: int, box_h: int, method: Method) -> "Image.Image":
    from PIL import Image, ImageOps

    width, height = frame.size
    out_w, out_h = target_size(width, height, box_w, box_h, method)
    if method == "scale":
        if (out_w, out_h) == (width, height):
            return frame.copy()
        return frame.resize((out_w, out_h), Image.Resampling.LANCZOS)
    # crop: scale so the image covers (out_w, out_h), then cut the centre.
    return ImageOps.fit(frame, (out_w, out_h), Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def _static_mode(image: "Image.Image", jpeg: bool) -> "Image.Image":
    if jpeg:
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    if image.mode in ("1", "L", "LA", "P", "RGB", "RGBA"):
        return image
    return image.convert("RGBA")


def render(
    path: Path, box_w: int, box_h: int, method: Method, *, animated: bool, max_pixels: int
) -> Thumbnail:
    """A thumbnail of the image at ``path`` for the box, animated when asked and possible."""
    from PIL import ImageOps

    with _open(path, max_pixels) as image:
        frames = int(getattr(image, "n_frames", 1))
        is_animated = bool(getattr(image, "is_animated", False)) and frames > 1
        # Every frame of an animation is decoded: its total pixels count against the limit,
        # beyond which the first frame alone is used.
        width, height = image.size
        if animated and is_animated and frames * width * height <= max_pixels:
            return _render_animated(image, box_w, box_h, method)
        try:
            image.load()
            source = ImageOps.exif_transpose(image) if image.format == "JPEG" else image
            jpeg = image.format == "JPEG"
            thumb = _static_mode(_resize(source, box_w, box_h, method), jpeg)
            if thumb.mode == "P" and "transparency" in image.info:
                thumb = thumb.convert("RGBA")
            out = io.BytesIO()
            if jpeg:
                thumb.save(out, "JPEG", quality=80)
            else:
                thumb.save(out, "PNG", optimize=False)
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise CannotThumbnail(str(e)) from e
        content_type = "image/jpeg" if jpeg else "image/png"
        return Thumbnail(out.getvalue(), content_type, thumb.size[0], thumb.size[1])


def _render_animated(image: "Image.Image", box_w: int, box_h: int, method: Method) -> Thumbnail:
    from PIL import ImageSequence

    try:
        frames: list[Image.Image] = []
        durations: list[int] = []
        for frame in ImageSequence.Iterator(image):
            frames.append(_resize(frame.convert("RGBA"), box_w, box_h, method))
            durations.append(int(frame.info.get("duration", image.info.get("duration", 100))))
        out = io.BytesIO()
        frames[0].save(
            out,
            "WEBP",
            save_all=True,
            append_images=frames[1:],
            duration=durations,
            loop=int(image.info.get("loop", 0)),
            quality=80,
        )
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise CannotThumbnail(str(e)) from e
    return Thumbnail(out.getvalue(), "image/webp", frames[0].size[0], frames[0].size[1])
