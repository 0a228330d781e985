"""The project's training stack against the loop a user would write, side by side.

Both train the same net on the same in-memory batches in one process, in alternating rounds
(so drift on a shared machine hits both): the *plain* loop is NCHW fp32 forward, cross
entropy, backward, AdamW step; the *stack* is ``Classifier`` built from the Hydra config
(metrics, per-class confusion, the default callbacks: throughput, epoch metrics, per-class
accuracy, checkpoints) under the Lightning ``Trainer`` of ``trainer=cpu``/``gpu``. The stack
runs with its fast paths as configured (``model.channels_last=auto``, ``optimizer.fused=auto``,
the default trainer's ``${auto_precision:}``: bf16-mixed on CPUs with AMX), with those a CPU
without native bf16 gets (``32-true``), and with none (NCHW, torch's optimizer loop, fp32).
Printed: median images/s per round and the time ratio plain / stack (> 1: the stack is
faster).

    python benchmarks/overhead.py --model small --image-size 112 --batch-size 32
    python benchmarks/overhead.py --model mobilenetv2 --image-size 160 --rounds 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader, Dataset

import sports_rec
from sports_rec.models.classifier import Classifier
from sports_rec.utils.resolvers import register_resolvers
from sports_rec.utils.run import instantiate_callbacks

CONF_DIR = sports_rec.CONF_DIR


class InMemory(Dataset):
    """The same ``batches`` (lists of samples) every epoch: no decoding in the way."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "label": self.labels[i], "index": i}


class StepTimer(L.Callback):
    """Wall time of the training batches after ``warmup`` of them."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.count, self.start, self.seconds = warmup, 0, 0.0, 0.0

    def on_train_batch_start(self, *args) -> None:
        if self.count == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, *args) -> None:
        self.count += 1

    def on_train_epoch_end(self, *args) -> None:
        self.seconds = time.perf_counter() - self.start


#: The stack's variants: the defaults, the defaults a CPU without native bf16 gets (an AVX2
#: machine: fp32 with the other fast paths), and no fast path at all.
VARIANTS: dict[str, list[str]] = {
    "stack (no fast paths)": [
        "model.channels_last=false",
        "optimizer.fused=false",
        "trainer.precision=32-true",
    ],
    "stack (defaults without bf16)": ["trainer.precision=32-true"],
    "stack (defaults)": [],
}


def config(model: str, size: int, variant: str, out: Path):
    overrides = [
        f"model={model}",
        f"data.image_size={size}",
        f"paths.root_dir={out}",
        f"paths.output_dir={out}",
        "logger=csv",
        *VARIANTS.get(variant, []),
    ]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides)


def stack_round(args, variant: str, data: InMemory, steps: int) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as out:
        cfg = config(args.model, args.image_size, variant, Path(out))
        torch.manual_seed(0)
        model = Classifier(
            net=dict(cfg.model.net),
            loss=dict(cfg.loss),
            optimizer=dict(cfg.optimizer),
            scheduler=None,
            metadata={
                "class_names": [str(i) for i in range(args.classes)],
                "input_spec": [
                    {
                        "name": "image",
                        "shape": [3, args.image_size, args.image_size],
                        "dtype": "torch.float32",
                    }
                ],
            },
            fast_paths={"channels_last": cfg.model.channels_last, "compile": cfg.model.compile},
        )
        timer = StepTimer(args.warmup)
        callbacks = [
            c
            for c in instantiate_callbacks(cfg.callbacks)
            if type(c).__name__
            not in ("RichProgressBar", "RichModelSummary", "EarlyStopping", "LearningRateMonitor")
        ]
        trainer = L.Trainer(
            accelerator="auto",
            devices=1,
            max_epochs=1,
            logger=False,
            callbacks=[*callbacks, timer],
            precision=cfg.trainer.precision,
            limit_val_batches=0,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        loader = DataLoader(data, batch_size=args.batch_size, shuffle=False, drop_last=True)
        trainer.fit(model, train_dataloaders=loader)
        layout = "NCHW" if model.memory_format is None else "NHWC"
        fused = bool(trainer.optimizers[0].defaults.get("fused"))
        settings = f"{trainer.precision}, {layout}, {'fused' if fused else 'loop'} step"
        return timer.seconds / (steps - args.warmup), settings


def plain_round(args, data: InMemory, steps: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = config(args.model, args.image_size, "stack (no fast paths)", Path(out))
    from hydra.utils import instantiate

    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = instantiate(cfg.model.net, num_classes=args.classes, in_chans=3).to(device).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    seconds = 0.0
    for step in range(steps):
        start = time.perf_counter()
        x = data.images[step * args.batch_size : (step + 1) * args.batch_size].to(device)
        y = data.labels[step * args.batch_size : (step + 1) * args.batch_size].to(device)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            seconds += time.perf_counter() - start
    return seconds / (steps - args.warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small")
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    register_resolvers()
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.steps * args.batch_size
    generator = torch.Generator().manual_seed(0)
    data = InMemory(
        torch.randn(n, 3, args.image_size, args.image_size, generator=generator),
        torch.randint(0, args.classes, (n,), generator=generator),
    )
    times: dict[str, list[float]] = {"plain loop": [], **{name: [] for name in VARIANTS}}
    settings = {"plain loop": "32-true, NCHW, loop step"}
    for _ in range(args.rounds):
        times["plain loop"].append(plain_round(args, data, args.steps))
        for name in VARIANTS:
            seconds, settings[name] = stack_round(args, name, data, args.steps)
            times[name].append(seconds)
    plain = sorted(times["plain loop"])[len(times["plain loop"]) // 2]
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    table = Table(
        title=f"{args.model} @ {args.image_size}px, batch {args.batch_size}, {device}, "
        f"median of {args.rounds} rounds x {args.steps - args.warmup} steps"
    )
    for column in ("path", "settings", "ms/step", "images/s", "plain time / path time"):
        table.add_column(column, justify="left" if column in ("path", "settings") else "right")
    for name, values in times.items():
        median = sorted(values)[len(values) // 2]
        table.add_row(
            name,
            settings[name],
            f"{median * 1000:.0f}",
            f"{args.batch_size / median:.1f}",
            f"{plain / median:.2f}x",
        )
    Console(width=120).print(table)
    gpu_section(args)


def gpu_step(net, inputs, labels, optimizer, scaler, dtype, amp: bool) -> None:
    """One mixed-precision (or fp32) training step on the GPU, synchronised."""
    with torch.autocast("cuda", dtype=dtype, enabled=amp):
        loss = torch.nn.functional.cross_entropy(net(inputs), labels)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()


def gpu_section(args: argparse.Namespace) -> None:
    """On a CUDA device: plain train steps in fp32, mixed precision (bf16 where the GPU has
    it, else fp16 with a scaler), + channels_last, + torch.compile. Skipped (and said so)
    without CUDA."""
    if not torch.cuda.is_available():
        Console().print("GPU section skipped: no CUDA device on this machine.")
        return
    from hydra.utils import instantiate

    device = torch.device("cuda")
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    y = torch.randint(0, args.classes, (args.batch_size,), device=device)
    table = Table(
        title=f"GPU ({torch.cuda.get_device_name()}): {args.model} train step, "
        f"batch {args.batch_size}, {args.image_size} px"
    )
    for column in ("setting", "ms/step", "images/s", "vs fp32"):
        table.add_column(column, justify="right")
    base = None
    settings = [
        ("fp32 NCHW", False, False, False),
        (f"{dtype} autocast", True, False, False),
        (f"{dtype} + channels_last", True, True, False),
        (f"{dtype} + channels_last + compile", True, True, True),
    ]
    for name, amp, channels_last, compiled in settings:
        with tempfile.TemporaryDirectory() as out:
            cfg = config(args.model, args.image_size, "stack (no fast paths)", Path(out))
        torch.manual_seed(0)
        net = instantiate(cfg.model.net, num_classes=args.classes, in_chans=3).to(device)
        inputs = x
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
            inputs = x.contiguous(memory_format=torch.channels_last)
        step_net = torch.compile(net) if compiled else net
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
        scaler = torch.amp.GradScaler(enabled=amp and dtype == torch.float16)

        state = (step_net, inputs, y, optimizer, scaler, dtype, amp)
        for _ in range(args.warmup + (3 if compiled else 0)):
            gpu_step(*state)
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            gpu_step(*state)
            times.append(time.perf_counter() - start)
        median = sorted(times)[len(times) // 2]
        base = base or median
        table.add_row(
            name, f"{median * 1000:.1f}", f"{args.batch_size / median:.0f}", f"{base / median:.2f}x"
        )
    Console().print(table)


if __name__ == "__main__":
    main()
