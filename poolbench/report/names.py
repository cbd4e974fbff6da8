"""Display names and per-head styles: the ONE mapping every table and figure of a report uses.

Ids (``fashion_mnist``, ``small_cnn``, ``gem``) stay in CSV files and file names; people read display names
(``Fashion-MNIST``, ``Small CNN``, ``GeM``). An unknown id falls back to itself (LaTeX-escaped in .tex files).

Each head has one colour and one marker in every figure, keyed by its name, never by its position in a plot:
the Okabe-Ito palette (readable with the common colour-vision deficiencies) for the shipped heads, and a fixed
list of leftovers for any other head, chosen by a hash of its name (deterministic across reports) and moved on
to the next free style when two unknown heads of one report would collide.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

DATASETS = {
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "synthetic": "Synthetic",
}
BACKBONES = {
    "small_cnn": "Small CNN",
    "resnet18": "ResNet-18",
    "resnet20": "ResNet-20",
    "resnet32": "ResNet-32",
    "resnet44": "ResNet-44",
    "resnet56": "ResNet-56",
    "resnet110": "ResNet-110",
}
HEADS = {
    "gap": "GAP",
    "gmp": "GMP",
    "gem": "GeM",
    "gem_fixed": "GeM (fixed p)",
    "flatten": "Flatten + FC",
    "flatten_dropout": "Flatten + dropout + FC",
    "avgmax": "Avg + Max",
    "catavgmax": "Cat(Avg, Max)",
    "lse": "LSE",
}
# Readable column names for config keys that vary between the runs of one report (automatic grouping).
CONFIG_KEYS = {
    "trainer.lr": "learning rate",
    "trainer.epochs": "epochs",
    "epochs": "epochs",
    "trainer.batch_size": "batch size",
    "trainer.weight_decay": "weight decay",
    "trainer.optimizer": "optimizer",
    "trainer.schedule": "LR schedule",
    "trainer.label_smoothing": "label smoothing",
    "head.p": "GeM initial p",
    "head.learn_p": "GeM p learned",
    "head.dropout": "head dropout",
    "dataset.augment.flip": "flip augmentation",
    "dataset.augment.crop_padding": "crop padding",
    "dataset.train_samples": "train samples",
    "dataset.task": "task",
    "backbone.widths": "backbone widths",
    "backbone.depth": "backbone depth",
    "backbone.padding_mode": "padding",
    "run_key": "config (run key)",
    "trainer.precision": "precision setting",
    "precision": "precision (ran)",
}
ALL_NAMES = {**DATASETS, **BACKBONES, **HEADS}


def display_name(identifier: object) -> str:
    """The display name of a dataset, backbone or head id; the id itself when unknown."""
    text = str(identifier)
    return ALL_NAMES.get(text, text)


def head_name(head: object) -> str:
    return HEADS.get(str(head), str(head))


def dataset_name(dataset: object) -> str:
    return DATASETS.get(str(dataset), str(dataset))


def backbone_name(backbone: object) -> str:
    return BACKBONES.get(str(backbone), str(backbone))


def key_name(key: str) -> str:
    """A readable column name for a grouping key (a dotted config key or a result field)."""
    return CONFIG_KEYS.get(key, key)


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def latex_escape(text: object) -> str:
    """Plain text made safe for LaTeX (an unknown id such as ``my_head`` becomes ``my\\_head``)."""
    return "".join(LATEX_SPECIAL.get(char, char) for char in str(text))


@dataclass(frozen=True)
class HeadStyle:
    color: str
    marker: str


# Okabe & Ito (2008), "Color Universal Design": black, orange, sky blue, bluish green, yellow, blue, vermillion,
# reddish purple. Yellow is too light for thin lines on white, so LSE gets grey (#999999, Wong 2011's variant).
HEAD_STYLES = {
    "gap": HeadStyle("#000000", "o"),
    "gmp": HeadStyle("#E69F00", "s"),
    "gem": HeadStyle("#0072B2", "D"),
    "gem_fixed": HeadStyle("#56B4E9", "d"),
    "flatten": HeadStyle("#D55E00", "^"),
    "flatten_dropout": HeadStyle("#D55E00", "<"),
    "avgmax": HeadStyle("#009E73", "v"),
    "catavgmax": HeadStyle("#CC79A7", "P"),
    "lse": HeadStyle("#999999", "X"),
}
# For heads not listed above (a plugin head): Paul Tol's "muted" colours, none of them in HEAD_STYLES.
LEFTOVER_COLORS = ("#882255", "#44AA99", "#117733", "#332288", "#DDCC77", "#AA4499", "#88CCEE", "#661100")
LEFTOVER_MARKERS = ("h", "p", "*", "<", ">", "8", "H", "x")


def head_styles(heads: Iterable[object]) -> dict[str, HeadStyle]:
    """The style of every head in ``heads``: fixed for known heads, hashed (collision-free) for the rest."""
    names = sorted({str(head) for head in heads})
    styles = {name: HEAD_STYLES[name] for name in names if name in HEAD_STYLES}
    combos = [HeadStyle(c, m) for m in LEFTOVER_MARKERS for c in LEFTOVER_COLORS]
    taken: set[HeadStyle] = set()
    for name in names:
        if name in styles:
            continue
        start = zlib.crc32(name.encode()) % len(LEFTOVER_COLORS)  # colour first: marker only on a clash
        order = [combos[(start + i) % len(combos)] for i in range(len(combos))]
        choice = next((style for style in order if style not in taken), order[0])
        taken.add(choice)
        styles[name] = choice
    return styles


def head_order(heads: Iterable[object]) -> list[str]:
    """Heads in a fixed reading order: the shipped ones in HEAD_STYLES order, then others alphabetically."""
    names = {str(head) for head in heads}
    known = [name for name in HEAD_STYLES if name in names]
    return known + sorted(names - set(known))


# The display-name function for each identity column of a table.
NAMERS = {"dataset": dataset_name, "backbone": backbone_name, "head": head_name, "baseline": head_name}
