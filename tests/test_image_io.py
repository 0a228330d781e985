"""Robust decoding: odd colour modes, EXIF rotation, huge JPEGs and broken files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sports_rec.data.io.image_io import ImageDecodeError, find_unreadable, load_image, source_size


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def transparent_png(path: Path, mode: str) -> Path:
    """A 16x8 ``mode`` image: left half opaque black, right half fully transparent black."""
    rgba = Image.new("RGBA", (16, 8), (0, 0, 0, 0))
    rgba.paste((0, 0, 0, 255), (0, 0, 8, 8))
    if mode == "P":
        image = rgba.convert("P")  # keeps transparency as a palette entry / tRNS
    elif mode == "LA":
        image = rgba.convert("LA")
    else:
        image = rgba
    image.save(path)
    with Image.open(path) as saved:
        assert saved.mode == mode
    return path


@pytest.mark.parametrize("source_mode", ["CMYK", "L", "RGB"])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_jpeg_modes_convert(tmp_path: Path, source_mode: str, mode: str) -> None:
    path = tmp_path / f"{source_mode}.jpg"
    noise_image(20, 12).convert(source_mode).save(path)
    with Image.open(path) as raw:
        assert raw.mode == source_mode
    image = load_image(path, mode=mode)
    assert image.mode == mode
    assert image.size == (20, 12)


def test_cmyk_colours_survive(tmp_path: Path) -> None:
    """A red CMYK JPEG decodes to red, not to its inverse."""
    path = tmp_path / "red.jpg"
    Image.new("RGB", (16, 16), (220, 20, 20)).convert("CMYK").save(path, quality=95)
    r, g, b = load_image(path).getpixel((8, 8))
    assert r > 180 and g < 70 and b < 70


@pytest.mark.parametrize("source_mode", ["P", "LA", "RGBA"])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_alpha_is_composited_on_white(tmp_path: Path, source_mode: str, mode: str) -> None:
    """Transparent pixels become white in every output mode; opaque ones keep their colour."""
    path = transparent_png(tmp_path / f"{source_mode}.png", source_mode)
    image = load_image(path, mode=mode)
    assert image.mode == mode
    white = 255 if mode == "L" else (255, 255, 255)
    black = 0 if mode == "L" else (0, 0, 0)
    assert image.getpixel((12, 4)) == white
    assert image.getpixel((3, 4)) == black


def test_exif_rotated_image_comes_out_upright(tmp_path: Path) -> None:
    """Orientation 6 (rotate 90 deg clockwise to display): stored 40x20 -> shown 20x40.

    The stored image is red on the left, blue on the right; upright it is red on top.
    """
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)

    image = load_image(path)
    assert image.size == (20, 40)
    top, bottom = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60
    assert load_image(path, max_side=10).size == (10, 20)


def test_huge_jpeg_decoded_small(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    noise_image(3000, 2000).save(path, quality=80)
    image = load_image(path, max_side=64)
    assert image.mode == "RGB"
    assert image.size == (96, 64)
    # Small images are never upscaled.
    assert load_image(path, max_side=4000).size == (3000, 2000)


def test_huge_png_decoded_small(tmp_path: Path) -> None:
    """Non-JPEG files have no draft mode but are still reduced."""
    path = tmp_path / "huge.png"
    noise_image(600, 900).save(path)
    assert load_image(path, max_side=50).size == (50, 75)


def test_slack_keeps_images_the_transforms_resize_anyway(tmp_path: Path) -> None:
    """With slack 2 (the datasets') an image up to twice the cap is left for the transforms'
    own resize; larger ones, and every one with slack 1, are reduced to the cap."""
    medium, large = tmp_path / "medium.png", tmp_path / "large.png"
    noise_image(300, 200).save(medium)  # shorter side 200: between the cap and twice it
    noise_image(900, 600).save(large)
    assert load_image(medium, max_side=128, slack=2).size == (300, 200)
    assert load_image(medium, max_side=128).size == (192, 128)
    assert load_image(large, max_side=128, slack=2).size == (192, 128)
    assert source_size(large) == (900, 600)


def test_grayscale_decoding_of_a_colour_jpeg_is_its_luminance(tmp_path: Path) -> None:
    """mode="L" reads the JPEG's luma plane directly: the pixels of decoding to RGB and
    converting, to rounding, at full and at reduced scale."""
    path = tmp_path / "colour.jpg"
    rng = np.random.default_rng(3)
    small = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    small.resize((640, 480), Image.Resampling.BILINEAR).save(path, quality=90)
    for max_side in (None, 100):
        gray = load_image(path, "L", max_side=max_side)
        via_rgb = load_image(path, "RGB", max_side=max_side).convert("L")
        assert gray.mode == "L" and gray.size == via_rgb.size
        difference = np.abs(np.asarray(gray, int) - np.asarray(via_rgb, int))
        assert difference.max() <= 2 and difference.mean() < 0.5


def test_source_size_is_upright(tmp_path: Path) -> None:
    """EXIF orientation 6 (a phone held upright): the header says 40 x 20, the image is 20 x
    40, as load_image returns it."""
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    noise_image(40, 20).save(path, exif=exif)
    assert source_size(path) == load_image(path).size == (20, 40)
    with pytest.raises(ImageDecodeError, match=r"not-there\.jpg"):
        source_size(tmp_path / "not-there.jpg")


def test_source_size_of_a_png_reads_the_header_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """InfiniteForm's renders are PNGs: their size must not cost a second decode (PIL's
    getexif() decodes a PNG without an early eXIf chunk); an early eXIf orientation counts."""
    from PIL import PngImagePlugin

    plain, turned = tmp_path / "plain.png", tmp_path / "turned.png"
    noise_image(40, 20).save(plain)
    exif = Image.Exif()
    exif[0x0112] = 6
    noise_image(40, 20).save(turned, exif=exif)

    def no_decoding(self):
        raise AssertionError("source_size decoded the pixels")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    assert source_size(plain) == (40, 20)
    assert source_size(turned) == (20, 40)


def test_corrupt_file_raises_naming_file(tmp_path: Path) -> None:
    path = tmp_path / "not an image.jpg"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(ImageDecodeError) as error:
        load_image(path)
    assert error.value.path == str(path)
    assert str(path) in str(error.value)
    assert "skipped_files.csv" in str(error.value)


@pytest.mark.parametrize("max_side", [None, 32])
def test_truncated_jpeg_raises(tmp_path: Path, max_side: int | None) -> None:
    buffer = io.BytesIO()
    noise_image(256, 256).save(buffer, "JPEG", quality=90)
    path = tmp_path / "truncated.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageDecodeError, match="truncated") as error:
        load_image(path, max_side=max_side)
    assert str(path) in str(error.value)


def test_empty_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.touch()
    with pytest.raises(ImageDecodeError):
        load_image(path)


def test_find_unreadable_returns_exactly_the_bad_files(tmp_path: Path) -> None:
    good = []
    for i, mode in enumerate(["RGB", "L", "CMYK"]):
        path = tmp_path / f"good {i}.jpg"
        noise_image(40, 30, seed=i).convert(mode).save(path)
        good.append(str(path))
    buffer = io.BytesIO()
    noise_image(300, 300).save(buffer, "JPEG")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(buffer.getvalue()[:2000])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\x00" * 100)
    missing = tmp_path / "missing.jpg"
    bad = [str(truncated), str(garbage), str(missing)]

    found = find_unreadable([good[0], bad[0], good[1], bad[1], good[2], bad[2]], workers=2)

    assert set(found) == set(bad)
    assert all(isinstance(reason, str) and reason for reason in found.values())
    assert find_unreadable(good) == {}
