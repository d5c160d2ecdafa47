"""Figure style and saving, shared by every notebook so figures look alike."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on CI or under papermill
import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_write_bytes  # noqa: E402
from .paths import figures_dir  # noqa: E402

# Okabe-Ito: distinguishable with the common colour-vision deficiencies
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

STYLE = {
    "figure.figsize": (3.4, 2.4),  # one column
    "figure.dpi": 150,
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "legend.frameon": False,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
}


def use_style() -> None:
    plt.rcParams.update(STYLE)


def save_figure(fig: plt.Figure, name: str, folder: str | Path | None = None) -> dict[str, Path]:
    """Write `name`.pdf (for the paper) and `name`.png (for viewing), each atomically."""
    folder = Path(folder) if folder else figures_dir()
    written = {}
    for fmt in ("pdf", "png"):
        buf = io.BytesIO()
        # a fixed creation date keeps the PDF bytes reproducible
        fig.savefig(buf, format=fmt, metadata={"CreationDate": None} if fmt == "pdf" else None)
        written[fmt] = atomic_write_bytes(folder / f"{name}.{fmt}", buf.getvalue())
    return written
