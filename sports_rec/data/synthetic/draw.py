"""Class-conditional synthetic images: learnable, but not trivially constant.

Each class is a combination of a shape, a hue and a fill texture. Every image puts that
object at a random position, scale and rotation, with jittered hue and brightness, on a
random two-colour gradient background with clutter (lines and blobs of other colours) and
pixel noise. A model has to find the object to classify the image; pixel statistics alone
do not give the class away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ("circle", "square", "triangle", "star", "ring", "cross", "diamond", "hexagon",
          "crescent", "bar", "arrow")  # fmt: skip
HUES = tuple(k / 10 for k in range(10))  # ten evenly spaced hues
TEXTURES = ("solid", "stripes", "dots")


@dataclass(frozen=True)
class ClassStyle:
    """What makes one synthetic class recognisable."""

    shape: str
    hue: float
    texture: str


def class_style(index: int) -> ClassStyle:
    """Style of class ``index``; distinct for the first 330 classes.

    11 shapes and 10 hues are coprime, so (shape, hue) pairs repeat only after 110
    classes; the texture then changes. Neighbouring class ids differ in shape and hue.
    """
    shape = SHAPES[index % len(SHAPES)]
    hue = HUES[index % len(HUES)]
    texture = TEXTURES[(index // (len(SHAPES) * len(HUES))) % len(TEXTURES)]
    return ClassStyle(shape, hue, texture)


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return int(r * 255), int(g * 255), int(b * 255)


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    def ring(n: int, radius: float, offset: float = 0.0) -> list[tuple[float, float]]:
        return [
            (cx + radius * math.cos(angle + offset + 2 * math.pi * k / n),
             cy + radius * math.sin(angle + offset + 2 * math.pi * k / n))
            for k in range(n)
        ]  # fmt: skip

    if shape == "square":
        return ring(4, r, math.pi / 4)
    if shape == "triangle":
        return ring(3, r)
    if shape == "diamond":
        pts = ring(4, r)
        return [(cx + (x - cx) * 0.6, y) if i % 2 == 0 else (x, y) for i, (x, y) in enumerate(pts)]
    if shape == "hexagon":
        return ring(6, r)
    if shape == "star":
        outer, inner = ring(5, r), ring(5, r * 0.42, math.pi / 5)
        return [p for pair in zip(outer, inner, strict=True) for p in pair]
    if shape == "cross":
        w = r * 0.35
        base = [(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w),
                (-r, w), (-r, -w), (-w, -w)]  # fmt: skip
    elif shape == "bar":
        base = [(-r, -r * 0.3), (r, -r * 0.3), (r, r * 0.3), (-r, r * 0.3)]
    elif shape == "arrow":
        base = [(-r, -r * 0.2), (r * 0.2, -r * 0.2), (r * 0.2, -r * 0.6), (r, 0),
                (r * 0.2, r * 0.6), (r * 0.2, r * 0.2), (-r, r * 0.2)]  # fmt: skip
    else:
        raise ValueError(shape)
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in base]


def _texture_mask(wh: tuple[int, int], texture: str) -> Image.Image | None:
    if texture == "solid":
        return None
    width, height = wh
    mask = Image.new("L", wh, 0)
    draw = ImageDraw.Draw(mask)
    period = max(3, min(wh) // 10)
    if texture == "stripes":
        for k in range(-height, width + height, period):
            draw.line([(k, 0), (k + height, height)], fill=255, width=max(1, period // 2))
    else:
        for y in range(0, height, period):
            for x in range(0, width, period):
                rad = max(1, period // 3)
                draw.ellipse([x, y, x + rad, y + rad], fill=255)
    return mask


@dataclass(frozen=True)
class Scene:
    """Nuisance parameters of one image; near-duplicate video frames share one scene."""

    background: tuple[tuple[int, int, int], tuple[int, int, int]]
    cx: float
    cy: float
    radius: float
    angle: float
    hue: float
    value: float
    clutter_seed: int


def random_scene(style: ClassStyle, rng: np.random.Generator) -> Scene:
    bg_a = tuple(int(v) for v in rng.integers(0, 256, 3))
    bg_b = tuple(int(v) for v in rng.integers(0, 256, 3))
    return Scene(
        background=(bg_a, bg_b),  # type: ignore[arg-type]
        cx=float(rng.uniform(0.35, 0.65)),
        cy=float(rng.uniform(0.35, 0.65)),
        radius=float(rng.uniform(0.2, 0.32)),
        angle=float(rng.uniform(0, 2 * math.pi)),
        hue=(style.hue + float(rng.normal(0, 0.025))) % 1.0,
        value=float(rng.uniform(0.65, 1.0)),
        clutter_seed=int(rng.integers(0, 2**31)),
    )


def jitter_scene(scene: Scene, rng: np.random.Generator, amount: float = 0.02) -> Scene:
    """A near-duplicate of ``scene`` (the next frame of the same video)."""
    return Scene(
        background=scene.background,
        cx=scene.cx + float(rng.normal(0, amount)),
        cy=scene.cy + float(rng.normal(0, amount)),
        radius=scene.radius * float(1 + rng.normal(0, amount)),
        angle=scene.angle + float(rng.normal(0, amount * 3)),
        hue=scene.hue,
        value=scene.value,
        clutter_seed=scene.clutter_seed,
    )


def render(
    style: ClassStyle, scene: Scene, size: int, rng: np.random.Generator, width: int | None = None
) -> Image.Image:
    """Draw one RGB image of ``size`` (height) x ``width`` (default square) pixels."""
    width = width or size
    ys = np.linspace(0.0, 1.0, size)[:, None, None]
    (a, b) = scene.background
    grad = np.array(a, float)[None, None] * (1 - ys) + np.array(b, float)[None, None] * ys
    canvas = Image.fromarray(np.broadcast_to(grad, (size, width, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    clutter = np.random.default_rng(scene.clutter_seed)
    short = min(size, width)
    for _ in range(3):
        pts = [(float(clutter.uniform(0, width)), float(clutter.uniform(0, size))) for _ in "ab"]
        colour = tuple(int(v) for v in clutter.integers(0, 256, 3))
        draw.line(pts, fill=colour, width=max(1, short // 40))
    for _ in range(2):
        x, y = clutter.uniform(0, width), clutter.uniform(0, size)
        r = clutter.uniform(0.03, 0.08) * short
        colour = tuple(int(v) for v in clutter.integers(0, 256, 3))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)

    colour = _hsv_to_rgb(scene.hue, 0.85, scene.value)
    shape_mask = Image.new("L", (width, size), 0)
    mdraw = ImageDraw.Draw(shape_mask)
    cx, cy, r = scene.cx * width, scene.cy * size, scene.radius * short
    if style.shape in {"circle", "ring", "crescent"}:
        mdraw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        if style.shape == "ring":
            mdraw.ellipse([cx - r * 0.55, cy - r * 0.55, cx + r * 0.55, cy + r * 0.55], fill=0)
        elif style.shape == "crescent":
            dx, dy = math.cos(scene.angle) * r * 0.45, math.sin(scene.angle) * r * 0.45
            mdraw.ellipse([cx + dx - r, cy + dy - r, cx + dx + r, cy + dy + r], fill=0)
    else:
        mdraw.polygon(_polygon(style.shape, cx, cy, r, scene.angle), fill=255)
    texture = _texture_mask((width, size), style.texture)
    if texture is not None:
        dark = _hsv_to_rgb(scene.hue, 0.9, scene.value * 0.45)
        canvas.paste(Image.new("RGB", (width, size), dark), (0, 0), shape_mask)
        both = Image.fromarray(np.minimum(np.asarray(shape_mask), np.asarray(texture)))
        canvas.paste(Image.new("RGB", (width, size), colour), (0, 0), both)
    else:
        canvas.paste(Image.new("RGB", (width, size), colour), (0, 0), shape_mask)

    canvas = canvas.filter(ImageFilter.GaussianBlur(radius=0.4))
    pixels = np.asarray(canvas).astype(np.int16) + rng.normal(0, 6, (size, width, 3)).astype(
        np.int16
    )
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
