"""QR codes of links (SHL IG STU1 §"QR code"): error correction level M, the whole text in byte mode (the
base64url payload is mixed case, so never alphanumeric mode, which would upper-case it)."""

from __future__ import annotations

import io
from typing import Literal

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M
from qrcode.util import MODE_8BIT_BYTE, QRData

Format = Literal["png", "svg"]
MEDIA_TYPES: dict[Format, str] = {"png": "image/png", "svg": "image/svg+xml"}


def qr_image(text: str, image_format: Format) -> bytes:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    # types-qrcode declares MODE_8BIT_BYTE as a plain int while QRData takes only Literal[1, 2, 4].
    code.add_data(QRData(text.encode(), mode=MODE_8BIT_BYTE))  # type: ignore[call-overload]
    code.make(fit=True)
    out = io.BytesIO()
    if image_format == "svg":
        code.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(out)
    else:
        code.make_image().save(out)
    return out.getvalue()
