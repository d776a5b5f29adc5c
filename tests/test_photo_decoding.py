"""A photo's decoding cost bounded from its header (ui/decoding.py, issue 25): the probe's
bombs through the app's own reader within a memory bound, large photos decoded small,
16-bit TIFFs read, variants PIL cannot decode called unsupported rather than damaged."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from benchmarks import bench_photo_memory
from ui import decoding, inputs

# Per photo, over the idle process: the largest decode the budget allows (64 MB) and room
# for PIL's and the resize's buffers. The probe measured +1.3 GB for the thin PNG.
BOUND_MB = 150


def test_the_probes_bombs_through_the_apps_reader_stay_within_a_memory_bound(tmp_path):
    """Each photo in a fresh process (its peak resident memory reset after a warm-up photo):
    read as the app reads an upload, then preprocessed as the model preprocesses it."""
    names = ["thin_150000x16", "tall_16x150000", "png_49mp", "line_1x50mp"]
    bench_photo_memory.make_photos(tmp_path, names)
    figures = bench_photo_memory.in_child(tmp_path, names)
    for name in names:
        assert figures[name]["peak_over_idle_mb"] < BOUND_MB, (name, figures[name])
    assert "too long and thin" in figures["thin_150000x16"]["outcome"]
    assert "too long and thin" in figures["tall_16x150000"]["outcome"]
    assert "at least 16" in figures["line_1x50mp"]["outcome"]


def header_only_png(path, width: int, height: int, colour_type: int = 6):
    """A PNG whose header claims width x height pixels (6: RGBA) over almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def test_a_png_over_the_decoding_budget_is_refused_from_its_header(tmp_path):
    path = header_only_png(tmp_path / "rgba.png", 5000, 5000)  # 25 MP: under the pixel limit, 100 MB to decode
    with pytest.raises(Exception, match="too large"):
        inputs.read_photo(str(path), [tmp_path])


def test_a_large_jpeg_is_decoded_at_reduced_size(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), "orange").save(path, quality=80)
    assert inputs.read_photo(str(path), [tmp_path]).size == (1000, 750)  # 1/4 scale: still >= 512 a side


def test_a_large_png_is_shrunk_before_it_is_converted_and_keeps_its_orientation(tmp_path):
    path = tmp_path / "big.png"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.new("RGB", (3000, 2000), "orange").save(path, exif=exif)
    image = inputs.read_photo(str(path), [tmp_path])
    assert image.size == (1000, 667)  # reduced by 3: no less than 2 x 256 on the shorter side
    from model.preprocess import to_rgb

    assert to_rgb(image).size == (667, 1000)  # the orientation survived the reduction


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_16_bit_tiffs_are_read(search, tmp_path, mode):
    values = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20).astype(">u2" if mode == "I;16B" else "<u2")
    path = tmp_path / f"grey-{mode.replace(';', '')}.tif"
    Image.frombytes(mode, (64, 48), values.tobytes()).save(path, "TIFF")
    image = inputs.read_photo(str(path), [tmp_path])
    assert image.mode == mode
    gallery, results, *_ = search.photo_to_recipe(str(path), 3)
    assert len(results) == 3


def test_a_variant_pil_cannot_decode_is_called_unsupported_not_damaged():
    message = decoding.unreadable_message(OSError("decoder tiff_adobe_deflate not available"), "TIFF RGB")
    assert "cannot read (TIFF RGB)" in message and "damaged" not in message
    assert decoding.unreadable_message(OSError("image file is truncated"), "JPEG RGB") == decoding.DAMAGED


@pytest.mark.parametrize("size, refused", [((3000, 100), False), ((8000, 200), True), ((16, 100_000), True)])
def test_the_resize_is_budgeted_from_the_header(size, refused):
    if refused:
        with pytest.raises(decoding.PhotoRefused, match="too long and thin"):
            decoding.check_header(size, 256)
    else:
        decoding.check_header(size, 256)  # a 30:1 panorama is still a photo
