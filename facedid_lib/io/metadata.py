"""What an image file holds besides its pixels: metadata, more frames, data after the image.

The ``facedid`` command writes a photo without a face unchanged: it copies the file byte for
byte when :func:`resave_reason` finds nothing in it but one image, and re-saves its pixels
otherwise (which drops everything else). Three formats are checked by walking their container
structure, without decoding a pixel:

- JPEG: the segments before, between and after the scans. Allowed: the frame, table, restart and
  scan segments, a JFIF (APP0) and an Adobe (APP14) header; nothing after the end-of-image marker.
- PNG: the chunks. Allowed: IHDR, PLTE, IDAT, IEND and the colour chunks tRNS, gAMA, cHRM, sRGB,
  sBIT, pHYs and bKGD; nothing after IEND.
- WebP: the RIFF chunks. Allowed: VP8, VP8L, VP8X and ALPH; nothing after the RIFF body.

Everything else is named in the reason: EXIF, XMP, IPTC, ICC profiles, comments, text chunks,
thumbnails, more frames (animations, MPF), unknown segments or chunks, a cut-off structure,
trailing bytes, as is a file of another format or one whose content is not the format its
suffix names.

Example
-------
>>> import io
>>> from PIL import Image
>>> from facedid_lib.io import metadata
>>> exif = Image.Exif(); exif[0x0110] = "a camera"                        # the Model tag
>>> photo = io.BytesIO(); Image.new("RGB", (8, 8)).save(photo, "JPEG", exif=exif)
>>> metadata.resave_reason(photo.getvalue(), ".jpg")
'it has EXIF'
>>> metadata.resave_reason(photo.getvalue(), ".png")
'its content is JPEG, not the PNG its suffix .png names'
"""

from __future__ import annotations

__all__ = ["SUFFIX_FORMATS", "resave_reason", "image_format"]

#: The suffixes whose files are checked, and the format each names.
SUFFIX_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WebP"}

_SIGNATURES = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n"}


def resave_reason(data: bytes, suffix: str) -> str | None:
    """Why a file's bytes are not one image and nothing else; None when they are.

    Parameters
    ----------
    data : the file's bytes.
    suffix : its suffix (``".jpg"``), which names the format it should hold.

    Returns
    -------
    None when ``data`` is a single JPEG, PNG or WebP image of the format ``suffix`` names, with no
    metadata and no other data; else a short reason (``"it has EXIF, XMP"``).
    """
    wanted = SUFFIX_FORMATS.get(suffix.lower())
    if wanted is None:
        return (f"{suffix or 'a file without a suffix'} is not one of the formats checked for metadata "
                f"({', '.join(SUFFIX_FORMATS)})")
    found = image_format(data)
    if found != wanted:
        return f"its content is {found or 'no JPEG, PNG or WebP'}, not the {wanted} its suffix {suffix} names"
    extras = list(dict.fromkeys(_SCANNERS[found](data)))
    return f"it has {', '.join(extras)}" if extras else None


def image_format(data: bytes) -> str | None:
    """``"JPEG"``, ``"PNG"`` or ``"WebP"`` where the first bytes of ``data`` name that format, else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((name for name, signature in _SIGNATURES.items() if data.startswith(signature)), None)


# ------------------------------------------------------------------------------------------------
# JPEG

_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and the restart markers carry no length
_JPEG_IMAGE = {*range(0xC0, 0xD0), 0xDA, 0xDB, 0xDC, 0xDD}  # frames, tables (DHT, DAC, DQT), scans, DNL, DRI
_APP_NAMES = ((0xE1, b"Exif", "EXIF"), (0xE1, b"http://ns.adobe.com/xap", "XMP"),
              (0xE1, b"http://ns.adobe.com/xmp", "XMP"), (0xE2, b"ICC_PROFILE", "an ICC profile"),
              (0xE2, b"MPF", "more images (MPF)"), (0xED, b"Photoshop", "IPTC or Photoshop data"),
              (0xE0, b"JFXX", "a thumbnail (JFXX)"))


def _jpeg_segment(marker: int, body: bytes) -> str | None:
    """What a JPEG segment holds besides the image, or None for part of the image."""
    if marker in _JPEG_IMAGE or (marker == 0xE0 and body.startswith(b"JFIF\0")) or \
            (marker == 0xEE and body.startswith(b"Adobe")):
        return None
    if marker == 0xFE:
        return "a comment"
    for app, prefix, name in _APP_NAMES:
        if marker == app and body.startswith(prefix):
            return name
    if 0xE0 <= marker <= 0xEF:
        return f"an APP{marker - 0xE0} segment"
    return f"a segment of marker 0x{marker:02X}"


def _entropy_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data from ``pos`` ends: at the next marker's 0xFF, or -1 at the file's end."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return -1
        following = data[pos + 1]
        if following == 0xFF:  # a fill byte before a marker
            pos += 1
        elif following == 0x00 or 0xD0 <= following <= 0xD7:  # a stuffed 0xFF, a restart marker
            pos += 2
        else:
            return pos


def _jpeg(data: bytes) -> list[str]:
    extras, pos = [], 2  # after the start-of-image marker
    while pos < len(data):
        if data[pos] != 0xFF:
            return [*extras, "bytes outside any segment"]
        while pos < len(data) and data[pos] == 0xFF:  # the marker's 0xFF and any fill bytes
            pos += 1
        if pos >= len(data):
            break
        marker, pos = data[pos], pos + 1
        if marker == 0xD9:  # end of image
            return [*extras, "data after the image"] if pos < len(data) else extras
        if marker in _JPEG_STANDALONE:
            continue
        if marker == 0xD8:
            return [*extras, "a second image"]
        length = int.from_bytes(data[pos:pos + 2], "big")
        if length < 2 or pos + length > len(data):
            return [*extras, "a cut-off segment"]
        name = _jpeg_segment(marker, data[pos + 2:pos + length])
        extras += [name] if name else []
        pos += length
        if marker == 0xDA:  # a scan: its entropy-coded data runs to the next marker
            pos = _entropy_end(data, pos)
            if pos < 0:
                break
    return [*extras, "no end-of-image marker"]


# ------------------------------------------------------------------------------------------------
# PNG

_PNG_IMAGE = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs", b"bKGD"}
_PNG_NAMES = {b"tEXt": "text", b"zTXt": "text", b"iTXt": "text or XMP", b"eXIf": "EXIF",
              b"iCCP": "an ICC profile", b"tIME": "a time stamp", b"acTL": "more frames (an animation)",
              b"fcTL": "more frames (an animation)", b"fdAT": "more frames (an animation)"}


def _png(data: bytes) -> list[str]:
    extras, pos = [], 8  # after the signature
    while pos + 8 <= len(data):
        length, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        pos += 12 + length  # length, type, data, CRC
        if pos > len(data):
            return [*extras, "a cut-off chunk"]
        if kind not in _PNG_IMAGE:
            extras.append(_PNG_NAMES.get(kind, f"a {kind.decode('latin-1')!r} chunk"))
        if kind == b"IEND":
            return [*extras, "data after the image"] if pos < len(data) else extras
    return [*extras, "no IEND chunk"]


# ------------------------------------------------------------------------------------------------
# WebP

_WEBP_IMAGE = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}
_WEBP_NAMES = {b"EXIF": "EXIF", b"XMP ": "XMP", b"ICCP": "an ICC profile", b"ANIM": "more frames (an animation)",
               b"ANMF": "more frames (an animation)"}


def _webp(data: bytes) -> list[str]:
    extras, pos = [], 12  # after RIFF, its size and WEBP
    end = 8 + int.from_bytes(data[4:8], "little")
    if end > len(data):
        return ["a cut-off file"]
    while pos + 8 <= end:
        kind, length = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if pos + 8 + length > end:
            return [*extras, "a cut-off chunk"]
        pos += 8 + length + length % 2  # chunks are padded to an even length
        if kind not in _WEBP_IMAGE:
            extras.append(_WEBP_NAMES.get(kind, f"a {kind.decode('latin-1')!r} chunk"))
    if pos < end:
        extras.append("bytes outside any chunk")
    return [*extras, "data after the image"] if end < len(data) else extras


_SCANNERS = {"JPEG": _jpeg, "PNG": _png, "WebP": _webp}
