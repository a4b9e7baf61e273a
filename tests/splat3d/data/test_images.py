"""Image decoding: bit depths and modes read correctly, hostile files refused by name."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from splat3d.data import DatasetError
from splat3d.data.images import clear_image_cache, load_image, read_image_size


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_image_cache()
    yield
    clear_image_cache()


def png_with_size(path: Path, width: int, height: int) -> Path:
    """A 1x1 PNG whose IHDR (with a correct CRC) claims ``width`` x ``height``."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then the IHDR length and type
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    path.write_bytes(bytes(data))
    return path


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    # Image.convert("RGB") clips 16-bit values at 255: this file used to read as solid white
    values = np.array([[0, 257, 1000, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    pixels = load_image(tmp_path / "g16.png", "frame 0")
    assert pixels.shape == (1, 5, 3)
    np.testing.assert_array_equal(pixels[..., 0], [[0, 1, 4, 128, 255]])
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])


def test_thirty_two_bit_integer_image_out_of_range_is_refused(tmp_path):
    Image.fromarray(np.array([[0, 70_000]], dtype=np.int32)).save(tmp_path / "i32.tiff")
    with pytest.raises(DatasetError, match=r"frame 0: image .*i32.tiff is 'I' with values "
                       r"0..70000; expected an 8- or 16-bit image"):
        load_image(tmp_path / "i32.tiff", "frame 0")


def test_float_image_is_refused(tmp_path):
    Image.fromarray(np.full((2, 2), 0.5, np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(DatasetError, match=r"f.tiff has 32-bit float pixels"):
        load_image(tmp_path / "f.tiff", "frame 0")


@pytest.mark.parametrize("mode,channels,alpha", [
    ("1", 3, None), ("L", 3, None), ("LA", 4, 200), ("P", 3, None), ("RGBA", 4, 200),
    ("CMYK", 3, None), ("LAB", 3, None), ("YCbCr", 3, None),
])
def test_modes_become_rgb_or_rgba(tmp_path, mode, channels, alpha):
    rgba = Image.new("RGBA", (3, 2), (10, 120, 230, 200))
    # LAB's third band is called "A" but is colour, not alpha
    im = rgba.convert(mode) if alpha is not None else rgba.convert("RGB").convert(mode)
    suffix = {"CMYK": "jpg", "LAB": "tiff", "YCbCr": "jpg"}.get(mode, "png")
    im.save(tmp_path / f"x.{suffix}")
    pixels = load_image(tmp_path / f"x.{suffix}", "frame 0")
    assert pixels.shape == (2, 3, channels) and pixels.dtype == np.uint8
    if alpha is not None:
        assert (pixels[..., 3] == alpha).all()


def test_palette_transparency_is_alpha(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.putpixel((1, 0), 1)
    im.info["transparency"] = 0
    im.save(tmp_path / "t.png", transparency=0)
    pixels = load_image(tmp_path / "t.png", "frame 0")
    assert pixels.shape == (1, 2, 4)
    assert pixels[0, 0, 3] == 0 and tuple(pixels[0, 1]) == (255, 0, 0, 255)


def test_decompression_bomb_header_names_the_file(tmp_path):
    path = png_with_size(tmp_path / "bomb.png", 100_000, 100_000)  # 1e10 pixels
    for read in (read_image_size, load_image):
        with pytest.raises(DatasetError, match=r"frame 3: cannot read image .*bomb.png: .*"
                           r"10000000000 pixels"):
            read(path, "frame 3")


def test_side_beyond_the_limit_is_refused_before_decoding(tmp_path):
    path = png_with_size(tmp_path / "wide.png", 40_000, 2)  # few pixels, too wide
    with pytest.raises(DatasetError, match=r"frame 0: image .*wide.png has width 40000 pixels; "
                       r"expected 1 to 32768"):
        read_image_size(path, "frame 0")


def test_truncated_image_is_a_clear_error(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[:len(data) // 2])
    with pytest.raises(DatasetError, match=r"frame 0: cannot decode image .*t.png"):
        load_image(tmp_path / "t.png", "frame 0")
