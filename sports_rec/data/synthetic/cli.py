"""Command line for the synthetic generators (also installed as ``sports-rec-synthetic``)."""

from __future__ import annotations

import argparse

from sports_rec.data.synthetic import SyntheticSpec, generate
from sports_rec.data.synthetic.layouts import WRITERS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sports_rec.data.synthetic",
        description="Write a learnable synthetic dataset in a real dataset's on-disk layout.",
    )
    parser.add_argument("format", choices=sorted(WRITERS), help="layout to reproduce")
    parser.add_argument("--out", required=True, help="output folder (must be new or empty)")
    parser.add_argument("--classes", type=int, default=10, help="number of classes")
    parser.add_argument(
        "--per-class",
        type=int,
        default=60,
        help="training images per class (workout: frames per class; exercise_video: "
        "training frames per class; infiniteform: images per class with --eval-per-class)",
    )
    parser.add_argument(
        "--eval-per-class",
        type=int,
        default=10,
        help="validation and test images per class where the layout has them "
        "(exercise_video: test frames per class)",
    )
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="seed; same seed, same files")
    args = parser.parse_args(argv)
    spec = SyntheticSpec(
        args.format, args.classes, args.per_class, args.eval_per_class, args.size, args.seed
    )
    out = generate(spec, args.out)
    print(f"Wrote synthetic {args.format} dataset to {out}")


if __name__ == "__main__":
    main()
