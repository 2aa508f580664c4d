"""Image preparation and on-the-fly ImageNet-C corruptions (imagecorruptions-imaug).

Applied as ImageNet-C did: resize the short side to 256, centre-crop 224, corrupt, save as JPEG
quality 85. Each (image id, corruption, severity) seeds numpy's generator, so a variant is the same
in every run and every worker process.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
_OWN_RNG = ("impulse_noise", "glass_blur")  # draw from their own generator: seed it explicitly
CROP = 224
RESIZE = 256
JPEG_QUALITY = 85


def to_rgb8(image: Image.Image) -> Image.Image:
    """8-bit RGB. 16-bit images are scaled (65535 -> 255), not clipped (Pillow's ``convert`` would turn them white)."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        if array.size and array.max() > 255:
            array = array / 257.0
        return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "F":
        raise ValueError("floating-point images (mode F) are not supported: save as 8- or 16-bit")
    if image.mode == "RGBA" or image.mode == "LA" or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGB", image.size, (255, 255, 255))
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def load_variant(record) -> np.ndarray:
    """Read, prepare (resize 256, crop 224) and corrupt one record: uint8 224x224x3."""
    with Image.open(record.path) as image:
        image.load()
        if not record.generated:
            rgb = to_rgb8(image)
            array = np.asarray(rgb, dtype=np.uint8)
            return array if array.shape[:2] == (CROP, CROP) else prepare_image(rgb)
        array = prepare_image(image)
    return corrupt_image(array, record.corruption, record.severity, record.image_id)


def prepare_image(image: Image.Image) -> np.ndarray:
    """RGB, short side resized to 256 (bilinear), centre crop 224: uint8 array 224x224x3."""
    image = to_rgb8(image)
    w, h = image.size
    scale = RESIZE / min(w, h)
    image = image.resize((max(CROP, round(w * scale)), max(CROP, round(h * scale))), Image.BILINEAR)
    w, h = image.size
    left, top = (w - CROP) // 2, (h - CROP) // 2
    return np.asarray(image.crop((left, top, left + CROP, top + CROP)), dtype=np.uint8)


def variant_seed(image_id: str, corruption: str, severity: int) -> int:
    digest = hashlib.blake2b(f"{image_id}|{corruption}|{severity}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def corrupt_image(array: np.ndarray, corruption: str, severity: int, image_id: str) -> np.ndarray:
    """Corrupt a prepared 224x224 uint8 image deterministically, then JPEG-85 round trip."""
    if corruption == "clean":
        return array
    from imagecorruptions import corrupt

    seed = variant_seed(image_id, corruption, severity)
    np.random.seed(seed)
    extra = {"seed": seed} if corruption in _OWN_RNG else {}
    out = corrupt(array, corruption_name=corruption, severity=severity, **extra)
    out = np.uint8(np.clip(out, 0, 255))
    if out.shape != array.shape:  # a few corruptions return a different size for small inputs
        out = np.asarray(Image.fromarray(out).resize(array.shape[1::-1], Image.BILINEAR))
    buffer = io.BytesIO()
    Image.fromarray(out).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.uint8)
