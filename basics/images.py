"""The one decoder of still image files (photos and frame folders), so every reader applies the same rules.

An image comes out as a viewer shows it: EXIF orientation applied, 16-bit and 32-bit grey scaled to
8 bits (not clipped to white), CMYK through its ICC profile when it has one, palette, grey and alpha
made RGB (transparency over white), an animated file's first frame. PIL is imported on first use.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import UserError


class ImageReadError(UserError):
    """A file that does not decode as an image; the message is one line naming the file.

    `reason` is the short cause (the decoder's exception name, or the size limit) for callers that
    word their own line (a frame folder's reader).
    """

    def __init__(self, message: str, path: str | os.PathLike, reason: str):
        super().__init__(message)
        self.path = path
        self.reason = reason


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as upright (H, W, 3) uint8 RGB (possibly read-only); ImageReadError when it does not decode."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return image_to_rgb(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        reason = type(exc).__name__
        raise ImageReadError(f"{path} is not a readable image ({reason})", path, reason) from None
    except Image.DecompressionBombError:
        most = f"{Image.MAX_IMAGE_PIXELS * 2:,} pixels at most"
        raise ImageReadError(f"{path} is too large to read ({most})", path, f"too large, {most}") from None


def image_to_rgb(im) -> np.ndarray:
    """A PIL image (any mode, any EXIF orientation) -> upright (H, W, 3) uint8 RGB (read_image's rules)."""
    from PIL import ImageOps

    try:
        im.load()
        ImageOps.exif_transpose(im, in_place=True)   # in place: no second copy of a 48 MP photo
    except (OSError, ValueError, KeyError, TypeError, SyntaxError):  # a broken EXIF block: the pixels as stored
        pass
    mode = im.mode
    if mode == "RGB":   # one copy out of PIL (convert() and asarray() each made one)
        return np.frombuffer(im.tobytes(), np.uint8).reshape(im.height, im.width, 3)
    if mode in ("I", "F") or mode.startswith("I;16"):
        return np.repeat(_deep_grey_to_uint8(im, mode)[..., None], 3, axis=2)
    if mode == "CMYK":
        return _cmyk_to_rgb(im)
    if mode in ("P", "PA"):
        im = im.convert("RGBA")
    elif mode in ("LA", "La", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        from PIL import Image

        back = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(back, im).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def _deep_grey_to_uint8(im, mode: str) -> np.ndarray:
    """16-bit / 32-bit integer or float grey pixels -> uint8, scaled by the format's range (not clipped)."""
    arr = np.asarray(im).astype(np.float64)
    if mode == "F":
        top = 1.0 if arr.size and np.nanmax(arr) <= 1.0 else 255.0
    elif mode.startswith("I;16") or (arr.size and arr.max() > 255):
        top = 65535.0 if not arr.size or arr.max() <= 65535 else float(2 ** 32 - 1)
    else:
        top = 255.0
    return np.clip(np.nan_to_num(arr) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _cmyk_to_rgb(im) -> np.ndarray:
    """CMYK -> sRGB through the image's own ICC profile when it carries one, else PIL's plain conversion."""
    icc = im.info.get("icc_profile")
    if icc:
        try:
            import io

            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return np.asarray(ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB"))
        except Exception:  # noqa: BLE001 -- a profile littlecms cannot use: the plain conversion
            pass
    return np.asarray(im.convert("RGB"))
