"""Training and inference speed of the model configs, as a table.

For each ``conf/model`` entry: parameters, GMACs per image (torch's FLOP counter, MACs =
FLOPs / 2), training samples/s (forward + backward + AdamW step), inference samples/s and
step times, measured after warm-up on whatever device is available. Nets are built exactly
as training builds them (Hydra config -> instantiate), so the figures match real runs.

    python benchmarks/models.py --models small lenet alexnet resnet26d --image-size 96
    python benchmarks/models.py --models resnet50 vit --image-size 224 --batch-size 16
"""

from __future__ import annotations

import argparse

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from rich.console import Console
from rich.table import Table
from timing import median_seconds

import sports_rec  # registers the config resolvers
from sports_rec.utils.model_stats import gmacs

CONF_DIR = sports_rec.CONF_DIR


def build_net(model: str, image_size: int, channels: int, num_classes: int) -> torch.nn.Module:
    overrides = [f"model={model}", f"data.image_size={image_size}", "paths.root_dir=."]
    if model == "timm":
        raise SystemExit("pass a concrete model config, not 'timm'")
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    return instantiate(cfg.model.net, num_classes=num_classes, in_chans=channels)


def measure(model: str, args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    net = build_net(model, args.image_size, args.channels, args.num_classes).to(device)
    batch = torch.randn(
        args.batch_size, args.channels, args.image_size, args.image_size, device=device
    )
    labels = torch.randint(0, args.num_classes, (args.batch_size,), device=device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(batch), labels).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    def infer_step() -> None:
        with torch.inference_mode():
            net(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()

    net.train()
    for _ in range(args.warmup):
        train_step()
    train_time = median_seconds(train_step, args.steps)
    net.eval()
    for _ in range(args.warmup):
        infer_step()
    infer_time = median_seconds(infer_step, args.steps)
    return {
        "params_m": sum(p.numel() for p in net.parameters()) / 1e6,
        "gmacs": gmacs(net, [batch[:1]]),
        "train_sps": args.batch_size / train_time,
        "train_ms": 1000 * train_time,
        "infer_sps": args.batch_size / infer_time,
        "infer_ms": 1000 * infer_time,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small", "lenet", "alexnet", "resnet26d"])
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-classes", type=int, default=22)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    table = Table(
        title=f"{device.type}, {torch.get_num_threads()} threads, batch "
        f"{args.batch_size}, {args.channels}x{args.image_size}x{args.image_size}"
    )
    for column in (
        "model",
        "params (M)",
        "GMACs/img",
        "train img/s",
        "train step ms",
        "infer img/s",
        "infer step ms",
    ):
        table.add_column(column, justify="left" if column == "model" else "right")
    for model in args.models:
        row = measure(model, args, device)
        table.add_row(
            model,
            f"{row['params_m']:.2f}",
            f"{row['gmacs']:.3f}",
            f"{row['train_sps']:.1f}",
            f"{row['train_ms']:.1f}",
            f"{row['infer_sps']:.1f}",
            f"{row['infer_ms']:.1f}",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
