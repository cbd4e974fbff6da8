"""The naive pipeline a straightforward PyTorch script would use: a torchvision dataset with per-sample PIL
transforms through a DataLoader, feeding a plain NCHW fp32 step."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from poolbench.bench.setup import Batch, Setup

PREFETCH_FACTOR = 2  # DataLoader's default: batches each worker keeps ready


class PilImages(torch.utils.data.Dataset):
    """uint8 images served one PIL image at a time, as torchvision's own datasets do (non-FashionMNIST)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable) -> None:
        self.images = images.permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        from PIL import Image

        image = self.images[index]
        pil = Image.fromarray(image[:, :, 0], mode="L") if image.shape[2] == 1 else Image.fromarray(image)
        return self.transform(pil), self.labels[index]


def torchvision_fashion_mnist_root(data_dir: Path, scratch: Path) -> Path:
    """A root torchvision's FashionMNIST accepts (``ROOT/FashionMNIST/raw/*-ubyte``, uncompressed), found by
    poolbench's own search; gzipped copies (Debian's) are decompressed into ``scratch``."""
    from poolbench.data.idx import IDX_FILES, find_fashion_mnist_files

    files = find_fashion_mnist_files(data_dir)
    if files is None:
        raise SystemExit("bench: FashionMNIST files not found (poolbench loaded them from elsewhere?)")
    raw = files["train_x"].parent
    if raw.parts[-2:] == ("FashionMNIST", "raw") and all(path.suffix != ".gz" for path in files.values()):
        return raw.parent.parent
    target = scratch / "FashionMNIST" / "raw"
    target.mkdir(parents=True, exist_ok=True)
    for key, path in files.items():
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as source, open(target / IDX_FILES[key], "wb") as sink:
            shutil.copyfileobj(source, sink)
    return scratch


def naive_dataset(setup: Setup, scratch: Path) -> torch.utils.data.Dataset:
    import torchvision.transforms as T

    dataset, augment = setup.settings.dataset, setup.augment
    transforms: list[Any] = []
    if augment.crop_padding > 0:
        transforms.append(T.RandomCrop(dataset.image_size, padding=augment.crop_padding))
    if augment.flip:
        transforms.append(T.RandomHorizontalFlip())
    transforms += [T.ToTensor(), T.Normalize(list(dataset.mean), list(dataset.std))]
    transform = T.Compose(transforms)
    if dataset.kind == "fashion_mnist":
        from torchvision.datasets import FashionMNIST

        root = torchvision_fashion_mnist_root(Path(setup.settings.data_dir).expanduser(), scratch)
        return FashionMNIST(str(root), train=True, transform=transform, download=False)
    from poolbench.data.load import load_raw

    raw = load_raw(dataset, setup.settings.data_dir)
    return PilImages(raw.train_x, raw.train_y, transform)


def endless(loader: torch.utils.data.DataLoader) -> Iterator[Batch]:
    while True:
        yield from loader


def naive_batches(setup: Setup, dataset: torch.utils.data.Dataset, workers: int) -> Iterator[Batch]:
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=setup.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=setup.device.type == "cuda",
        prefetch_factor=PREFETCH_FACTOR if workers > 0 else None,
    )
    return endless(loader)


def plain_step(setup: Setup) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """What a straightforward PyTorch script does: NCHW, fp32, the same optimizer and schedule."""
    from poolbench.training.optim import build_optimizer, build_scheduler

    model = setup.new_model(torch.contiguous_format)
    optimizer = build_optimizer(model, setup.trainer)
    scheduler = build_scheduler(optimizer, setup.trainer, setup.steps_per_epoch)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=setup.trainer.label_smoothing)

    def step(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        return loss.detach()

    return step


def to_device(setup: Setup, batch: Batch, memory_format: torch.memory_format) -> Batch:
    images, labels = batch
    non_blocking = setup.device.type == "cuda"
    images = images.to(setup.device, non_blocking=non_blocking).contiguous(memory_format=memory_format)
    return images, labels.to(setup.device, non_blocking=non_blocking)
