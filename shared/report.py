"""compare.py's output: one document rendered three ways, the plots, and results.json.

A report is a list of :class:`Section`; each holds paragraphs, :class:`Table` and plot
names. The same sections become rich tables in the terminal, Markdown with PNG links,
and a self-contained HTML page with the PNGs embedded as base64 data URIs. Every file
is written atomically (temporary file, then rename), and compare.py's set of files as one.
:data:`RESULTS_SCHEMA` documents results.json (README, "compare.py and its report") and
:func:`validate` checks it.
For compare.py, :func:`make_plots` draws the plots of the sections that ran, :func:`sections`
builds the document from results, and :func:`render_outputs` renders it to the files that
compare.py writes together (all of them or none: shared.weights.atomic_write_files).
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import html
import io
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from shared import machine, metrics
from shared.implementations import REFERENCE
from shared.spec import OPTIMIZER_HYPERPARAMETERS
from shared.weights import atomic_write_bytes

SCHEMA_VERSION = 5  # 2: environment; the verdict's compared and summary; 3: file_digests;
# 4: the environment's cpu, numpy_simd, blas_kernel and code_path_variables; 5: results.json's
# own digest in file_digests
TINY = 1e-20  # exact zeros are drawn here on log axes
HUGE = 1e100  # larger values are drawn here (matplotlib's log ticks overflow near 1e257)
GRID = 70     # decision-region grid per axis
MNIST_DIGITS = 16


# ----------------------------------------------------------------------------- document

@dataclass
class Table:
    """A titled table of strings; ``bad`` marks rows to highlight (a failed check)."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    bad: set[int] = field(default_factory=set)

    def add(self, *cells, bad: bool = False) -> None:
        if bad:
            self.bad.add(len(self.rows))
        self.rows.append([str(cell) for cell in cells])


@dataclass
class Section:
    """A numbered part of the report: paragraphs, tables and plots, in that order."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)


def fmt(value, digits: int = 3) -> str:
    """A number for a table cell: '—' for missing, scientific for small or large magnitudes."""
    if value is None or (isinstance(value, str) and not value):
        return "—"
    if isinstance(value, str):
        return value
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:.{digits + 1}g}"
    return f"{value:.{digits - 1}e}"


def setting(value) -> str:
    """A spec's setting as a TOML file would write it: the shortest exact digits, '5e-7' (not '5e-07')."""
    if isinstance(value, int):
        return str(value)
    text = repr(float(value)).removesuffix(".0")
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if e else text


# ----------------------------------------------------------------------------- renderers

def print_console(sections: list[Section], console, plots: dict[str, Path] | None = None) -> None:
    """Each section as a rule, its paragraphs and rich tables."""
    from rich.table import Table as RichTable
    from rich.text import Text

    for section in sections:
        console.rule(section.title)
        for paragraph in section.paragraphs:
            console.print(paragraph, markup=False, highlight=False)
        for table in section.tables:
            rich = RichTable(title=Text(table.title), title_justify="left")
            for header in table.headers:
                rich.add_column(Text(header), overflow="fold")
            for i, row in enumerate(table.rows):  # Text: "numpy[torch]" is not rich markup
                rich.add_row(*map(Text, row), style="bold red" if i in table.bad else None)
            console.print(rich)
        for name in section.plots:
            if plots and name in plots:
                console.print(f"plot {name}: {plots[name]}", markup=False, highlight=False)


def _md_text(text: str) -> str:
    """Text with no HTML in it: a '<' that could open a tag (a spec's name or description
    is the user's) becomes &lt;; '<=' and '< 1' stay as they read."""
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|").replace("\n", "<br>")  # GitHub tables take <br>


def markdown(title: str, sections: list[Section], plots: dict[str, dict]) -> str:
    """report.md: headings, pipe tables, and the plots as PNG links next to it."""
    lines = [f"# {_md_text(title)}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [_md_text(paragraph), ""]
        for table in section.tables:
            lines += [f"**{table.title}**", "",
                      "| " + " | ".join(map(_md_cell, table.headers)) + " |",
                      "|" + "---|" * len(table.headers)]
            for i, row in enumerate(table.rows):
                cells = [f"**{_md_cell(c)}**" if i in table.bad and c else _md_cell(c)
                         for c in row]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        for name in section.plots:
            if name in plots:
                lines += [f"![{plots[name]['title']}]({plots[name]['file']})", ""]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;
padding:.25em .6em;font-size:.9em;text-align:left}th{background:#f3f3f3}tr.bad td{color:#b00;
font-weight:bold}figure{margin:1em 0}img{max-width:100%}p{white-space:pre-wrap}
caption{text-align:left;font-weight:bold;padding:.3em 0}"""


def html_page(title: str, sections: list[Section], plots: dict[str, dict],
              images: dict[str, bytes]) -> str:
    """report.html, self-contained: each plot is <img alt=NAME src="data:image/png;base64,...">."""
    esc = html.escape
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{esc(title)}</h1>"]
    for section in sections:
        out.append(f"<h2>{esc(section.title)}</h2>")
        out += [f"<p>{esc(p)}</p>" for p in section.paragraphs]
        for table in section.tables:
            out.append(f"<table><caption>{esc(table.title)}</caption><tr>"
                       + "".join(f"<th>{esc(h)}</th>" for h in table.headers) + "</tr>")
            for i, row in enumerate(table.rows):
                css = " class=\"bad\"" if i in table.bad else ""
                out.append(f"<tr{css}>" + "".join(f"<td>{esc(c).replace(chr(10), '<br>')}</td>"
                                                  for c in row) + "</tr>")
            out.append("</table>")
        for name in section.plots:
            if name in images:
                data = base64.b64encode(images[name]).decode("ascii")
                out.append(f"<figure><img alt=\"{esc(name)}\" src=\"data:image/png;base64,{data}\">"
                           f"<figcaption>{esc(plots[name]['title'])}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def json_text(results: dict) -> str:
    """results.json's text (strict JSON: non-finite floats are strings)."""
    return json.dumps(clean(results), indent=2, allow_nan=False)


def clean(value):
    """Plain JSON data: NumPy values unwrapped, NaN and inf as the strings 'nan', 'inf'."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    return value


# ----------------------------------------------------------------------------- plots

PLOT_TITLES = {
    "loss_accuracy": "Loss and accuracy per epoch, all implementations overlaid",
    "gradient_differences": "Per-parameter max |gradient difference| from the reference at "
                            "initialisation (log scale)",
    "divergence": "Parameter distance from the reference per step, against the noise floor",
    "decision_regions": "Decision regions of each trained implementation over the training data",
    "regression_fit": "Each trained implementation's prediction over the data",
    "mnist_predictions": "Test digits with each implementation's prediction",
    "time_per_epoch": "Time per epoch per implementation",
    "sweep": "Sweep: final loss per configuration and implementation, and distance / bound",
}
# The plot of the trained networks over their data, by the network's input width.
DATA_PLOTS = {2: "decision_regions", 1: "regression_fit", 784: "mnist_predictions"}
COLORS = {"numpy": "#1f77b4", "pure": "#2ca02c", "torch": "#d62728", "tf": "#ff7f0e"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def _floats(values) -> np.ndarray:
    return np.array([float(v) for v in values], dtype=float)


def _log_values(values) -> np.ndarray:
    """Values for a log axis: clipped to [TINY, HUGE], non-finite ones masked (not drawn)."""
    v = _floats(values)
    return np.where(np.isfinite(v), np.clip(v, TINY, HUGE), np.nan)


def _log_axis(ax, label: str, *value_lists) -> None:
    """A log y axis labelled ``label``, saying where exact zeros are drawn when there are any."""
    zeros = any(v is not None and float(v) == 0 for values in value_lists for v in values)
    ax.set(yscale="log", ylabel=label + (f"\n(0 drawn at {TINY:g})" if zeros else ""))
    low, high = ax.get_ylim()  # what is drawn: the values, and lines such as an atol
    if 0 < low and high < 10 * low:
        # within a decade matplotlib labels one or two ticks (spiral's loss, 1.1 to 0.45):
        # label every tick, in plain numbers (0.5, 0.6, ..., 1)
        from matplotlib.ticker import FuncFormatter

        plain = FuncFormatter(lambda value, _: f"{value:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)


def _integer_ticks(ax) -> None:
    """Whole numbers on the x axis (epochs, steps), never 2.5."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _from_untrained(run: dict) -> dict:
    """The history with the untrained network as epoch 0 (evaluated, dropout off)."""
    h, u = run["history"], run.get("untrained")
    if not u:
        return h
    h = dict(h, epoch=[0, *h["epoch"]], loss=[u["loss"], *h["loss"]],
             accuracy=[u["accuracy"], *h["accuracy"]])
    if h["val_loss"]:
        h.update(val_loss=[u["val_loss"], *h["val_loss"]],
                 val_accuracy=[u["val_accuracy"], *h["val_accuracy"]])
    return h


def plot_loss_accuracy(training: dict) -> bytes:
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    losses = []
    for k, (impl, run) in enumerate(training.items()):
        # thinner lines on top, so that curves which agree stay visible
        h, style = _from_untrained(run), {"color": COLORS.get(impl), "lw": max(3.5 - k, 0.8)}
        losses += [h["loss"], h["val_loss"]]
        if len(h["epoch"]) <= 3:  # a line through one point draws nothing (MNIST: 1 epoch)
            style.update(marker="o", markersize=max(9 - 2 * k, 3))
        ax_loss.plot(h["epoch"], _log_values(h["loss"]), label=f"{impl} train", **style)
        ax_acc.plot(h["epoch"], h["accuracy"], label=f"{impl} train", **style)
        if h["val_loss"]:
            ax_loss.plot(h["epoch"], _log_values(h["val_loss"]), "--", label=f"{impl} val",
                         **style)
            ax_acc.plot(h["epoch"], h["val_accuracy"], "--", label=f"{impl} val", **style)
    ax_loss.set(xlabel="epoch (0: untrained)", title="loss")
    _log_axis(ax_loss, "loss", *losses)
    ax_acc.set(xlabel="epoch (0: untrained)", ylabel="accuracy", title="accuracy")
    for axis in (ax_loss, ax_acc):
        _integer_ticks(axis)
    ax_loss.legend(fontsize=8)
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def plot_gradient_differences(differences: list[dict]) -> bytes:
    plt = _pyplot()
    grads = [d for d in differences if d["quantity"] == "gradient"]
    names = list(dict.fromkeys(d["name"] for d in grads))
    pairs = list(dict.fromkeys(" vs ".join(reversed(d["pair"])) for d in grads))
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(names) * max(1, len(pairs)) / 2), 4))
    width = 0.8 / max(len(pairs), 1)
    for k, pair in enumerate(pairs):
        values = {}  # the worst over the conditions (dropout off, the masks of epoch 1)
        for d in grads:
            if " vs ".join(reversed(d["pair"])) == pair:
                values[d["name"]] = max(values.get(d["name"], 0.0), float(d["max_abs"]))
        heights = _log_values([values.get(n, 0.0) for n in names])
        impl = pair.split(" vs ")[0]
        ax.bar(np.arange(len(names)) + k * width, heights, width, label=pair,
               color=COLORS.get(impl))
    for i, name in enumerate(names):  # each parameter's own atol (float32: 1e-4 x its max|g|)
        atol = max(float(d["atol"]) for d in grads if d["name"] == name)
        ax.hlines(atol, i - width / 2, i + width * (len(pairs) - 0.5), colors="k",
                  linestyles=":", label="atol" if i == 0 else None)
    ax.set_xticks(np.arange(len(names)) + width * (len(pairs) - 1) / 2, names, rotation=20)
    _log_axis(ax, "max |difference|", [d["max_abs"] for d in grads])
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # off the atol lines
    fig.tight_layout()
    return _png(fig)


def plot_divergence(divergence: dict, float32: bool = False) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn_floors, values = set(), []
    for k, (impl, check) in enumerate(divergence["implementations"].items()):
        steps = np.arange(len(check["distance"]))
        values += [_floats(check[key]) for key in ("distance", "noise_floor", "bound")]
        # thinner lines on top, so that distances which coincide (all 0) stay visible
        ax.plot(steps, _log_values(check["distance"]), label=f"{impl} vs "
                f"{check['reference']}", color=COLORS.get(impl), lw=max(3.5 - k, 0.8))
        if check["reference"] not in drawn_floors:
            # one floor and bound per reference: black for numpy's, the framework's colour for
            # the variant that computes its native formulas (numpy[torch], numpy[keras])
            color = COLORS.get(impl) if "[" in check["reference"] else "k"
            drawn_floors.add(check["reference"])
            ax.plot(steps, _log_values(check["noise_floor"]), ":", color=color,
                    label=f"noise floor of {check['reference']} (1-ulp weights or inputs"
                          + ("; at least its distance from float64" if float32 else "") + ")")
            ax.plot(steps, _log_values(check["bound"]), "--", color=color, alpha=.5,
                    label=f"bound of {check['reference']}: 10x floor, at least "
                          f"1e-12 (f64) or 1e-5 (f32)")
        if not check.get("ok", True) and check.get("first_bad_step") is not None:
            ax.axvline(check["first_bad_step"], color=COLORS.get(impl), lw=0.8, alpha=.6,
                       label=f"{impl} leaves its bound (step {check['first_bad_step']})")
    every = np.concatenate(values) if values else np.zeros(0)
    ax.set(xlabel="optimizer step")
    _log_axis(ax, "max |parameter difference|", every)
    _integer_ticks(ax)
    if not np.all(np.isfinite(every)) or np.any(every > HUGE):
        ax.set_title(f"diverged: values above {HUGE:g} drawn at {HUGE:g}, non-finite ones "
                     f"not drawn", fontsize=9, color="#b00")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the curves
    return _png(fig)


def plot_decision_regions(grid_x, grid_y, regions: dict, X, y) -> bytes:
    """One panel per implementation: predicted class (or output) over the grid, data on top."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(regions), figsize=(3.6 * len(regions), 3.6), squeeze=False)
    labels = np.argmax(y, axis=1) if y.ndim == 2 and y.shape[1] > 1 else np.ravel(y)
    low = min(float(np.min(labels)), *(float(np.min(r)) for r in regions.values()))
    high = max(float(np.max(labels)), *(float(np.max(r)) for r in regions.values()))
    colors = dict(cmap="brg", vmin=low, vmax=max(high, low + 1))
    for ax, (impl, region) in zip(axes[0], regions.items()):
        ax.pcolormesh(grid_x, grid_y, region, alpha=0.35, shading="auto", **colors)
        ax.scatter(X[:, 0], X[:, 1], c=labels, s=10, edgecolors="k", linewidths=.3, **colors)
        ax.set(title=impl, xlabel="input 0", ylabel="input 1" if ax is axes[0][0] else None)
        ax.tick_params(labelsize=7)
    fig.suptitle("shaded: the class each implementation predicts (or its output); points: the "
                 "training data, in their label's colour", fontsize=8)
    classes = np.unique(labels)
    bottom = 0.0
    if len(classes) <= 10 and np.all(classes == np.round(classes)):  # a key to the colours
        cmap, span = plt.get_cmap(colors["cmap"]), colors["vmax"] - colors["vmin"]
        keys = [plt.Line2D([], [], marker="o", linestyle="", markeredgecolor="k",
                           markeredgewidth=.3, color=cmap((c - colors["vmin"]) / span),
                           label=f"class {c:g}") for c in classes]
        fig.legend(handles=keys, loc="lower center", ncol=len(keys), fontsize=7, frameon=False)
        bottom = 0.08
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return _png(fig)


def plot_regression_fit(X, y, predictions: dict) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    order = np.argsort(X[:, 0])
    ax.plot(X[order, 0], np.ravel(y)[order], "k.", markersize=2, label="data")
    for impl, pred in predictions.items():
        ax.plot(X[order, 0], np.ravel(pred)[order], label=impl, color=COLORS.get(impl))
    ax.set(xlabel="x", ylabel="y", title="the trained networks' fit to the training data")
    ax.legend(fontsize=8)
    return _png(fig)


def plot_mnist(images, labels, predictions: dict) -> bytes:
    """A grid of digits; each title lists the true label and every implementation's prediction."""
    plt = _pyplot()
    n = len(images)
    cols = min(8, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 2.0 * rows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(np.reshape(images[i], (28, 28)), cmap="gray_r")
        guesses = " ".join(f"{impl[:2]}:{int(p[i])}" for impl, p in predictions.items())
        wrong = any(int(p[i]) != int(labels[i]) for p in predictions.values())
        ax.set_title(f"true {int(labels[i])}\n{guesses}", fontsize=6,
                     color="#b00" if wrong else "k")
    names = ", ".join(f"{impl[:2]} {impl}" for impl in predictions)
    fig.suptitle(f"the true label, then each implementation's prediction ({names}); red: some "
                 f"implementation is wrong", fontsize=7)
    return _png(fig)


def plot_time_per_epoch(training: dict) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(training)
    for i, impl in enumerate(names):
        seconds = _floats(training[impl]["history"]["seconds"]) * 1e3
        ax.boxplot([seconds], positions=[i], widths=.6, showfliers=False)
        ax.scatter(np.full(len(seconds), i), seconds, s=6, alpha=.5, color=COLORS.get(impl))
    ax.set_xticks(range(len(names)), names)
    ax.set(yscale="log", ylabel="ms per epoch")
    return _png(fig)


def plot_sweep(sweep: dict) -> bytes:
    plt = _pyplot()
    configs = sweep["configs"]
    impls = list(dict.fromkeys(i for c in configs for i in c["results"]))
    fig, (ax, ax_ratio) = plt.subplots(2, 1, sharex=True, figsize=(
        max(10, 0.5 * len(configs) * max(1, len(impls)) / 2 + 3), 7))
    width, all_ratios = 0.8 / max(len(impls), 1), []
    for k, impl in enumerate(impls):
        results = [c["results"].get(impl, {}) for c in configs]
        at = np.arange(len(configs)) + k * width
        bars = ax.bar(at, [float(r.get("loss", math.nan)) for r in results], width, label=impl,
                      color=COLORS.get(impl))
        for bar, r in zip(bars, results):
            if r and not r["ok"]:
                bar.set_hatch("xx")
                bar.set_edgecolor("#b00")
        if impl == REFERENCE:  # at distance 0 from itself
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = [float(r["distance"]) / float(r["bound"]) if r else math.nan
                      for r in results]
        ax_ratio.bar(at, _log_values(ratios), width, color=COLORS.get(impl))
        all_ratios += ratios
    ax_ratio.axhline(1, color="#b00", lw=0.8, ls="--", label="the bound")
    ax_ratio.set_xticks(np.arange(len(configs)) + width * (len(impls) - 1) / 2,
                        [c["label"] for c in configs], rotation=60, ha="right", fontsize=7)
    ax.set(ylabel=f"final training loss after {_count(sweep['epochs'], 'epoch')}")
    _log_axis(ax_ratio, f"distance from {REFERENCE} / bound", all_ratios)
    ax.legend(fontsize=8, title="hatched: outside the noise-floor bound", loc="upper left",
              bbox_to_anchor=(1.0, 1.0))
    ax_ratio.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return _png(fig)


def make_plots(run, results: dict, models: dict) -> dict[str, bytes]:
    """PNG bytes by plot name, for the sections that ran. A plot that fails is left out and
    its error goes to results["plot_errors"] and stderr: it never costs the report."""
    images, results["plot_errors"] = {}, []
    for name, draw in _plot_jobs(run, results, models):
        try:
            images[name] = draw()
        except Exception as error:
            _pyplot().close("all")
            message = f"plot {name} failed: {type(error).__name__}: {error}"
            results["plot_errors"].append(message)
            print(f"compare.py: {message}", file=sys.stderr, flush=True)
    return images


def _plot_jobs(run, results: dict, models: dict):
    """(name, function drawing its PNG) for each plot of the sections that ran."""
    if results["sweep"]:
        yield "sweep", lambda: plot_sweep(results["sweep"])
        return
    training = results["training"]["implementations"] if results["training"] else None
    if training:
        yield "loss_accuracy", lambda: plot_loss_accuracy(training)
    if results["parity"] and results["parity"]["differences"]:
        yield "gradient_differences", lambda: plot_gradient_differences(
            results["parity"]["differences"])
    if results["divergence"] and results["divergence"]["implementations"]:
        yield "divergence", lambda: plot_divergence(results["divergence"],
                                                    float32=run.dtype == "float32")
    d, spec = run.data, run.spec
    data_plot = DATA_PLOTS.get(spec.inputs) if models else None
    if data_plot == "decision_regions":
        yield data_plot, lambda: _decision_regions(d, spec, models)
    if data_plot == "regression_fit":
        yield data_plot, lambda: plot_regression_fit(
            d.X_train, d.y_train, {impl: m.predict(d.X_train) for impl, m in models.items()})
    if data_plot == "mnist_predictions":
        yield data_plot, lambda: _mnist_predictions(d, models)
    if training:
        yield "time_per_epoch", lambda: plot_time_per_epoch(training)


def _decision_regions(d, spec, models: dict) -> bytes:
    lo, hi = d.X_train.min(axis=0), d.X_train.max(axis=0)
    pad = 0.1 * (hi - lo + 1e-9)
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], GRID),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], GRID))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    regions = {}
    for impl, model in models.items():
        out = model.predict(grid)
        label = np.argmax(out, axis=1) if out.shape[1] > 1 else (
            out[:, 0] > 0.5 if spec.metric == "binary" else out[:, 0])
        regions[impl] = label.astype(float).reshape(gx.shape)
    return plot_decision_regions(gx, gy, regions, d.X_train, d.y_train)


def _mnist_predictions(d, models: dict) -> bytes:
    X = d.X_val if d.X_val is not None else d.X_train
    y = d.y_val if d.y_val is not None else d.y_train
    X, y = X[:MNIST_DIGITS], y[:MNIST_DIGITS]
    labels = np.argmax(y, axis=1) if y.ndim == 2 else y
    return plot_mnist(X, labels, {impl: np.argmax(m.predict(X), axis=1)
                                  for impl, m in models.items()})


# ----------------------------------------------------------------------------- compare.py's report

def describe_optimizer(spec, mode: str = "exact") -> str:
    """'optimizer adam lr 0.05 decay 5e-7 epsilon 1e-7 beta_1 0.9 beta_2 0.999': every setting it uses."""
    o = spec.optimizer
    names = ("learning_rate", "decay", *OPTIMIZER_HYPERPARAMETERS[o.type], "clip_value",
             "clip_norm")
    values = [(name, getattr(o, name)) for name in names]
    parts = [f"{'lr' if name == 'learning_rate' else name} {setting(value)}"
             if not isinstance(value, bool) else name for name, value in values
             if value or name in ("learning_rate", "decay")]
    # read by Keras's formula alone (torch.optim.Adagrad is not given it in native mode)
    if o.type == "adagrad" and (spec.variant != "keras" or mode == "native"):
        parts = [part + " (Keras's formula only: variant keras, tf native)"
                 if part.startswith("initial_accumulator") else part for part in parts]
    return "optimizer " + " ".join([o.type, *parts])


def describe_regularization(spec) -> str:
    """The L1/L2 factors per dense layer and the dropout rates, or 'no regularization'."""
    keys = ("weight_l1", "weight_l2", "bias_l1", "bias_l2")
    parts = [f"{layer.name} " + ", ".join(f"{key.replace('_', ' ')} {setting(getattr(layer, key))}"
                                          for key in keys if getattr(layer, key))
             for layer in spec.dense_layers if layer.regularized]
    parts += [f"{layer.name} rate {setting(layer.rate)}" for layer in spec.dropout_layers]
    return "; ".join(parts) if parts else "no regularization"


NOTHING_COMPARED = "Nothing to compare: only the reference ran (see Settings)."
NOTHING_COMPARED_FAILED = "Nothing to compare: only the reference ran (see Summary)."
NO_ROWS = "No rows: the other implementations raised here (see Summary)."
NATIVE_DISAGREEMENT = (
    "In native mode a divergence a few tens of times the noise floor is each framework's own "
    "operation order (section 4's last explanation; README, compare.py: on spiral torch sits at "
    "24x and Keras at 41x the floor after 100 Adam steps); a formula difference lands orders of "
    "magnitude higher.")
ACCURACY = {  # shared.training.accuracy, per spec metric
    "categorical": "the share of samples whose largest output is the label's",
    "binary": "the share of outputs on the label's side of 0.5",
    "regression": "nnfs's regression accuracy: the share of outputs within std(y) / 250 of "
                  "the target",
}


def _add_table(section: Section, table: Table, results: dict) -> None:
    """The table, or where it has no rows, why: nothing compared (which replaces the section's
    explanation of a comparison; the Summary says why where an implementation failed to build),
    or the others raised."""
    if table.rows:
        section.tables.append(table)
    elif not results["verdict"]["compared"]:
        section.paragraphs = [NOTHING_COMPARED_FAILED if results["verdict"]["failures"]
                              else NOTHING_COMPARED]
    else:
        section.paragraphs.append(NO_ROWS)


def _epochs(n: int) -> str:
    return "epoch" if n == 1 else f"{n} epochs"


def _count(n: int, noun: str) -> str:
    """'1 epoch', '3 epochs'."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _step(step: int | None) -> str:
    return "—" if step is None else str(step)


def _stalled(reference: dict | None) -> str | None:
    """A note when the reference's loss did not fall: the settings do not train the network
    (the comparison stands; it is about agreement, not about learning)."""
    losses = _floats(reference["history"]["loss"]) if reference else np.zeros(0)
    if len(losses) < 2 or not np.isfinite(losses[[0, -1]]).all() or losses[-1] < losses[0]:
        return None  # trained, or diverged (which the Summary reports)
    return (f"Note: {REFERENCE}'s training loss did not fall ({fmt(losses[0])} at the first "
            f"record, {fmt(losses[-1])} at the last): these settings do not train this network. "
            f"The implementations can still agree; the verdict is about agreement.")


def _describe_data(data: dict | None) -> list[str]:
    """The data line of the Settings: where it came from, and how many samples."""
    if not data:
        return []
    return [f"data: {data['source'] or 'as the spec says'}; {data['train']:,} training and "
            f"{data['val']:,} validation samples"]


def _stopped_early(train: dict, patience: int) -> str | None:
    """A note naming the implementations whose patience ran out before the last epoch."""
    stops = {impl: r["stopped_epoch"] for impl, r in train["implementations"].items()
             if r.get("stopped_epoch") is not None}
    if not stops:
        return None
    monitored = ("validation loss" if any(r["final"]["val_loss"] is not None
                                          for r in train["implementations"].values())
                 else "training loss")
    where = ", ".join(f"{impl} after epoch {epoch}" for impl, epoch in stops.items())
    return (f"Stopped early: {where} of {train['epochs']}, {_count(patience, 'epoch')} without "
            f"a lower {monitored} (the spec's patience). The final metrics and distances are "
            f"those of the stopping epoch.")


def sections(run, results: dict) -> list[Section]:
    """The report's sections, from results (the same data results.json holds)."""
    f = fmt
    spec, out = run.spec, []
    training = ("optimizer, learning rate, batch size and regularization per configuration "
                "(see Sweep)" if results["sweep"] else
                f"{describe_optimizer(spec, run.mode)}; {describe_regularization(spec)}; batch size "
                f"{run.batch_size or 'full'}")
    head = Section("Settings", [
        f"network {spec.name!r} ({spec.description.rstrip('.') or 'custom'}); "
        f"{results['settings']['dtype']}, "
        f"{run.mode} mode, init {spec.init}, seed {spec.training.seed}; {training}; "
        f"implementations {', '.join(run.impls) or 'none'}"
        + "".join(f"; skipped {s['name']}: {s['reason']}" for s in run.skipped),
        *_describe_data(results["settings"].get("data")),
        describe_environment(results["environment"])]
        + ([run.epochs_note] if run.epochs_note else []) + run.notes)
    out.append(head)
    parity = results["parity"]
    if parity is not None:
        atol32 = metrics.tolerance("float32", "gradient")[0]
        float32 = (f" In float32 a gradient's atol is max({atol32:g}, "
                   f"{metrics.FLOAT32_GRADIENT_SCALE:g} x max |reference|), the table's atol."
                   if run.dtype == "float32" else "")
        s = Section("1. Parity at initialisation", [
            f"The same initial weights in every implementation; forward outputs, loss and every "
            f"gradient on {run.parity_samples} samples against the reference (max |diff| and max "
            f"|diff| / max |reference|). Each element passes when |diff| <= atol + rtol x "
            f"|reference| (numpy.allclose); worst / bound is the largest |diff| / (atol + rtol x "
            f"|reference|) over the elements, at most 1 to pass.{float32}"],
            plots=["gradient_differences"])
        masked = bool(spec.dropout_layers)
        table = Table("Differences from the reference", ["condition"] * masked + [
            "quantity", "name", "pair", "max abs", "max rel", "atol", "rtol", "worst / bound",
            "ok"])
        for d in parity["differences"]:
            table.add(*[d["condition"]] * masked, d["quantity"], d["name"],
                      f"{d['pair'][1]} vs {d['pair'][0]}", f(d["max_abs"]), f(d["max_rel"]),
                      f"{d['atol']:.3g}", f"{d['rtol']:.3g}", f(d["worst_ratio"]),
                      "yes" if d["ok"] else "NO", bad=not d["ok"])
        _add_table(s, table, results)
        fd = parity["finite_difference"]
        s.paragraphs.append(f"Finite differences: {fd['note']}.")
        if fd["errors"]:
            names = list(spec.parameter_shapes())
            table = Table("Relative error of each implementation's gradients against "
                          "finite differences", ["implementation"] + names + ["max"])
            for impl, errors in fd["errors"].items():
                worst = float(np.max([float(v) for v in errors.values()]))  # NaN wins
                table.add(impl, *(f(errors[name]) for name in names), f(worst))
            s.tables.append(table)
        out.append(s)
    train = results["training"]
    if train is not None:
        s = Section("2. Training", [
            f"{_count(train['epochs'], 'epoch')}, batch size {train['batch_size'] or 'full'}; every "
            f"implementation sees the same data order and dropout masks (shared.training). Over "
            f"many epochs training is chaotic, so the distance after training is informational; "
            f"the verdict comes from section 3. Untrained loss (epoch 0 of the plot): the "
            f"initial network evaluated, dropout off. Loss: the mean of the last epoch's step "
            f"losses (each taken before its update, dropout on, as nnfs and Keras report it); accuracy "
            f"({ACCURACY[spec.metric]}) and the validation columns: after the last epoch, "
            f"dropout off; ms / epoch: the "
            f"median over the recorded epochs, training only; total s includes the evaluations. "
            f"The history is recorded every {_epochs(run.eval_every)}."
            + (" Every loss, validation loss included, adds the L1/L2 penalties to the data "
               "loss, as nnfs's printed loss does." if any(
                   layer.regularized for layer in spec.dense_layers) else "")
            + (" In native mode the distance column is '—' for the frameworks: only the nnfs "
               "reference trains, not the variants they are judged against."
               if run.mode == "native" else "")
            + (f" The distance column is '—': {REFERENCE} was not in --impls, so it ran as the "
               f"reference for sections 1 and 3 but did not train here."
               if REFERENCE not in run.impls else "")],
            plots=["loss_accuracy", "decision_regions", "regression_fit", "mnist_predictions",
                   "time_per_epoch"])
        table = Table("Final metrics", ["implementation", "untrained loss", "loss", "accuracy",
                                        "val loss", "val accuracy", "ms / epoch", "total s",
                                        f"distance from {REFERENCE}"])
        for impl, r in train["implementations"].items():
            fin = r["final"]
            table.add(impl, f(r["untrained"]["loss"]), f(fin["loss"]), f(fin["accuracy"]),
                      f(fin["val_loss"]),
                      f(fin["val_accuracy"]), f(1e3 * r["seconds_per_epoch"]), f(r["seconds"]),
                      f(r["distance_from_reference"]))
        # An implementation that raised or diverged: a failure in the Summary, or a note in the
        # Settings where training diverged in every implementation alike
        where = "Settings" if run.diverged_everywhere else "Summary"
        for impl in run.impls:
            if impl not in train["implementations"]:
                table.add(impl, f"no result (see {where})", *[""] * 7, bad=True)
        s.tables.append(table)
        stopped = _stopped_early(train, spec.training.patience)
        if stopped:
            s.paragraphs.append(stopped)
        stalled = _stalled(train["implementations"].get(REFERENCE))
        if stalled:
            s.paragraphs.append(stalled)
        out.append(s)
    div = results["divergence"]
    minimum = (metrics.FLOAT32_TRAJECTORY_ATOL if run.dtype == "float32"
               else metrics.TRAJECTORY_MINIMUM)
    if div is not None:
        s = Section("3. Divergence from the reference", [
            f"The parameters after each of the first {div['steps']} optimizer steps (batch size "
            f"{div['batch_size'] or 'full'}), as max |difference| from the reference. The noise "
            f"floor is the reference's largest distance from its reruns from weights moved by "
            f"one ulp and from inputs moved one ulp down and up: rounding that grows "
            f"chaotically stays near it; a formula difference lands orders of magnitude above. "
            + ("In float32 the floor is at least the reference's own distance from the same "
               "steps in float64 (Adam amplifies the rounding of a gradient that nearly "
               "cancels). " if run.dtype == "float32" else "")
            + f"Bound: max({metrics.TRAJECTORY_FACTOR:g} x floor, {minimum:g})."],
            plots=["divergence"])
        table = Table("Distance at the last step, and at the worst", [
            "implementation", "reference", "distance", "noise floor", "bound",
            "worst distance / bound", "at step", "verdict"])
        for impl, c in div["implementations"].items():
            # not ok within the bound: non-finite at another step than the reference (Summary)
            verdict = ("within" if c["ok"] else f"left at step {c['first_bad_step']}"
                       if c["first_bad_step"] is not None else
                       f"non-finite at another step than {c['reference']} (see Summary)")
            if c["diverged_step"] is not None:
                verdict += f"; diverged (non-finite parameters) at step {c['diverged_step']}"
            table.add(impl, c["reference"], f(c["distance"][-1]), f(c["noise_floor"][-1]),
                      f(c["bound"][-1]), f(c["worst_ratio"]), _step(c["worst_step"]), verdict,
                      bad=not c["ok"])
        _add_table(s, table, results)
        out.append(s)
    if results["native"]:
        s = Section("4. Native mode: drift from the nnfs formulas", [
            "Each framework's built-in formulas against the nnfs reference, after the divergence "
            "steps; the atlas names the formula differences (the verdict above compares each "
            "with the reference variant that computes its formulas)."])
        table = Table("Native drift", ["implementation", "distance from nnfs reference",
                                       "at initialisation", "explanation"])
        for impl, n in results["native"].items():
            table.add(impl, f(n["final_distance"]), n["at_init"], "\n".join(n["explanations"]))
        s.tables.append(table)
        out.append(s)
    if results["sweep"]:
        sw = results["sweep"]
        s = Section("Sweep", [
            f"Each configuration trained {_count(sw['epochs'], 'epoch')} in every implementation from the "
            f"same weights, data order and masks; final weights judged against the noise floor "
            f"(the reference trained from one-ulp-perturbed weights"
            + ("; in float32 from weights moved one float32 ulp and from inputs moved one down "
               "and up, and at least its distance from the same run in float64"
               if run.dtype == "float32" else "")
            + f"). A configuration is what "
            f"its label says: the optimizer from its nnfs defaults with that learning rate, the "
            f"network's layers with only that regularization (none: no L1/L2, no dropout)."],
            plots=["sweep"])
        table = Table("Sweep results", ["configuration", "implementation", "loss",
                                        "accuracy", "val accuracy", "distance", "bound",
                                        "ok"])
        for c in sw["configs"]:
            for impl, r in c["results"].items():
                table.add(c["label"], impl, f(r["loss"]), f(r["accuracy"]), f(r["val_accuracy"]),
                          f(r["distance"]), f(r["bound"]), "yes" if r["ok"] else "NO",
                          bad=not r["ok"])
        s.tables.append(table)
        out.append(s)
    verdict = results["verdict"]
    native_note = ([NATIVE_DISAGREEMENT] if results["native"] and verdict["failures"] else [])
    summary = Section("Summary", [verdict["summary"]]
                      + [f"also: {line}" for line in verdict["failures"][1:]] + native_note
        + results.get("plot_errors", []))
    out.append(summary)
    return out


# Each package a report records, by the distributions that provide it (TensorFlow comes as
# tensorflow-cpu on Linux x86-64, as requirements.txt pins it, and under other names elsewhere).
PACKAGES = {"numpy": ("numpy",), "torch": ("torch",),
            "tensorflow": ("tensorflow-cpu", "tensorflow", "tensorflow-intel", "tensorflow-macos",
                           "tf-nightly"),
            "keras": ("keras",), "nnfs": ("nnfs",)}
ROOT = Path(__file__).resolve().parent.parent


def environment() -> dict:
    """What the bits depend on: Python, packages, NumPy's BLAS, machine, commit and date."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - a NumPy without build information
        blas = None
    return {"python": f"{platform.python_implementation()} {platform.python_version()}",
            "packages": {name: _version(dists) for name, dists in PACKAGES.items()},
            "blas": blas, "platform": platform.platform(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "cpu": cpu_model(), "numpy_simd": numpy_simd(),
            "blas_kernel": blas_kernel(),
            "code_path_variables": {name: os.environ[name] for name in CODE_PATH_VARIABLES
                                    if name in os.environ},
            "commit": _commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


# Variables that choose the libraries' code paths, and so the last bits (on hosts with AVX-512
# tests/conftest.py sets the first two, and MKL_CBWR on Intel CPUs; the README's "What the
# tests show" says why).
CODE_PATH_VARIABLES = ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE", "MKL_CBWR",
                       "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS")


def cpu_model() -> str | None:
    """The CPU's model name (Linux's /proc/cpuinfo; elsewhere platform.processor())."""
    return machine.cpu().model or platform.processor() or None


def numpy_simd() -> list[str] | None:
    """The optional SIMD extensions NumPy dispatches to on this CPU (e.g. AVX512_ICL), which
    decide the last bit of its float64 exp and log."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # pragma: no cover - another NumPy layout
        return None
    return [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]


def describe_simd(features: list[str] | None) -> str:
    """numpy_simd() in words: the extensions, "baseline only", or "unknown"."""
    return "unknown" if features is None else " ".join(features) or "baseline only"


def blas_kernel() -> str | None:
    """The kernel family NumPy's OpenBLAS runs (Haswell, SkylakeX, ...), read by threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is pinned in requirements.txt
        return None
    kernels = [library.get("architecture") for library in threadpool_info()
               if library.get("internal_api") == "openblas"]  # NumPy's: no framework uses one
    return kernels[0] if kernels else None


def _version(distributions) -> str | None:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _commit() -> str | None:
    """The HEAD of this project's own git checkout (12 hex digits, "-dirty" with uncommitted
    changes to tracked files), or None: no git, no checkout, or a checkout of another tree."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              timeout=10, check=False)
    try:
        head = git("rev-parse", "--show-toplevel", "HEAD")
        lines = head.stdout.splitlines()
        if head.returncode or len(lines) != 2 or Path(lines[0]).resolve() != ROOT:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return lines[1][:12] + ("-dirty" if dirty else "")


def describe_environment(env: dict) -> str:
    """One line for the Settings section."""
    packages = ", ".join(f"{name} {version}" for name, version in env["packages"].items()
                         if version)
    simd = describe_simd(env["numpy_simd"])
    kernels = f" ({env['blas_kernel']} kernels)" if env["blas_kernel"] else ""
    variables = "".join(f"; {name}={value!r}"
                        for name, value in env["code_path_variables"].items())
    return (f"Environment: {env['python']}; {packages}; BLAS {env['blas'] or 'unknown'}"
            f"{kernels}; {env['platform']}, {env['cpus']} CPUs ({env['cpu'] or 'model unknown'}"
            f"; NumPy SIMD: {simd}){variables}; commit {env['commit'] or 'unknown'}; "
            f"{env['date']}")


ALWAYS_WRITTEN = ("report.md", "report.html", "results.json")


def report_files(sweep: bool | None = None, inputs: int | None = None,
                 compared: bool = True) -> set[str]:
    """The file names compare.py may write into --out: every one, or (given sweep and inputs)
    those of a run with or without --sweep of a network with that many inputs, comparing
    implementations or running the reference alone (see _plot_jobs)."""
    plots = set(PLOT_TITLES)
    if sweep is not None:
        if sweep:
            plots = {"sweep"}
        else:
            plots -= {"sweep", *DATA_PLOTS.values()}
            if inputs in DATA_PLOTS:
                plots.add(DATA_PLOTS[inputs])
            if not compared:  # no pair: no parity differences, no divergence
                plots -= {"gradient_differences", "divergence"}
    return {f"{name}.png" for name in plots} | set(ALWAYS_WRITTEN)


def digest(data: bytes) -> str:
    """A file's SHA-256 as results.json records it (``file_digests``)."""
    return hashlib.sha256(data).hexdigest()


def record_digest(results: dict) -> str:
    """results.json's own entry in its file_digests: the SHA-256 of its text without that entry,
    so that an edited results.json is told from the one compare.py wrote."""
    digests = {k: v for k, v in results["file_digests"].items() if k != "results.json"}
    return digest((json_text(dict(results, file_digests=digests)) + "\n").encode("utf-8"))


def render_outputs(run, results: dict, images: dict, started: float):
    """(sections, files): the document, and the PNGs, report.md, report.html and results.json as
    {file name: bytes}; results gets its plots, files and seconds (since ``started``, a
    perf_counter) first."""
    results["plots"] = [{"name": name, "file": f"{name}.png", "title": PLOT_TITLES[name]}
                        for name in images]
    results["files"] = ([f"{name}.png" for name in images]
                        + ["report.md", "report.html", "results.json"])
    results["seconds"] = time.perf_counter() - started
    parts = sections(run, results)
    plots = {p["name"]: p for p in results["plots"]}
    title = f"Rosetta NN comparison: {run.spec.name}"
    files = {f"{name}.png": data for name, data in images.items()}
    files["report.md"] = markdown(title, parts, plots).encode("utf-8")
    files["report.html"] = html_page(title, parts, plots, images).encode("utf-8")
    # what this run wrote, so that a later run replaces or removes only these, unchanged
    results["file_digests"] = {name: digest(data) for name, data in files.items()}
    results["file_digests"]["results.json"] = record_digest(results)
    files["results.json"] = (json_text(results) + "\n").encode("utf-8")
    return parts, files


# ----------------------------------------------------------------------------- results.json

_NUM = {"type": ["number", "string"]}   # a float, or "nan"/"inf"/"-inf"
_NUMS = {"type": "array", "items": _NUM}
_STRS = {"type": "array", "items": {"type": "string"}}
_INT_OR_NULL = {"type": ["integer", "null"]}
_DIFFERENCE = {
    "type": "object",
    "required": ["quantity", "name", "pair", "max_abs", "max_rel", "atol", "rtol", "ok", "index",
                 "values", "worst_ratio", "condition"],
    "properties": {
        "quantity": {"enum": ["forward", "loss", "gradient"]},
        "name": {"type": "string"},
        "pair": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
        "max_abs": _NUM, "max_rel": _NUM, "atol": _NUM, "rtol": _NUM,
        "ok": {"type": "boolean"},
        "index": {"type": "array", "items": {"type": "integer"}},
        "values": {"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2},
        "worst_ratio": _NUM,
        "condition": {"type": "string"},
    },
}
_HISTORY = {
    "type": "object",
    "required": ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"],
    "properties": {"epoch": {"type": "array", "items": {"type": "integer"}}, "loss": _NUMS,
                   "accuracy": _NUMS, "val_loss": _NUMS, "val_accuracy": _NUMS, "seconds": _NUMS},
}
_TRAJECTORY = {
    "type": "object",
    "required": ["reference", "distance", "noise_floor", "bound", "ok", "first_bad_step",
                 "worst_ratio", "worst_step", "diverged_step", "message"],
    "properties": {"reference": {"type": "string"}, "distance": _NUMS, "noise_floor": _NUMS,
                   "bound": _NUMS, "ok": {"type": "boolean"}, "first_bad_step": _INT_OR_NULL,
                   "worst_ratio": _NUM, "worst_step": _INT_OR_NULL,
                   "diverged_step": _INT_OR_NULL,
                   "message": {"type": "string"}},
}
_SWEEP_RESULT = {
    "type": "object",
    "required": ["loss", "accuracy", "val_loss", "val_accuracy", "seconds", "distance", "bound",
                 "ok"],
    "properties": {"loss": _NUM, "accuracy": _NUM, "val_loss": {"type": ["number", "string",
                   "null"]}, "val_accuracy": {"type": ["number", "string", "null"]},
                   "seconds": _NUM, "distance": _NUM, "bound": _NUM, "ok": {"type": "boolean"}},
}
RESULTS_SCHEMA = {
    "type": "object",
    "required": ["schema_version", "command", "environment", "network", "spec", "settings",
                 "implementations",
                 "skipped", "parity", "training", "divergence", "native", "sweep", "plots",
                 "plot_errors", "files", "file_digests", "verdict", "seconds"],
    "properties": {
        "schema_version": {"enum": [SCHEMA_VERSION]},
        "command": {"type": "string"},
        "environment": {
            "type": "object",
            "required": ["python", "packages", "blas", "platform", "machine", "cpus", "cpu",
                         "numpy_simd", "blas_kernel", "code_path_variables", "commit", "date"],
            "properties": {"python": {"type": "string"},
                           "packages": {"type": "object", "additionalProperties": {
                               "type": ["string", "null"]}},
                           "blas": {"type": ["string", "null"]}, "platform": {"type": "string"},
                           "machine": {"type": "string"}, "cpus": _INT_OR_NULL,
                           "cpu": {"type": ["string", "null"]},
                           "numpy_simd": {"type": ["array", "null"], "items": {"type": "string"}},
                           "blas_kernel": {"type": ["string", "null"]},
                           "code_path_variables": {"type": "object", "additionalProperties": {
                               "type": "string"}},
                           "commit": {"type": ["string", "null"]}, "date": {"type": "string"}},
        },
        "network": {"type": "string"},
        "spec": {"type": "object", "required": ["name", "inputs", "layers", "loss", "optimizer"]},
        "settings": {
            "type": "object",
            "required": ["dtype", "mode", "init", "seed", "epochs", "epochs_note", "batch_size",
                         "parity_steps", "parity_samples", "reference", "sweep"],
            "properties": {"dtype": {"enum": ["float32", "float64"]},
                           "mode": {"enum": ["exact", "native"]},
                           "init": {"type": "string"}, "seed": {"type": "integer"},
                           "data": {"type": "object", "required": ["source", "train", "val"],
                                    "properties": {"source": {"type": "string"},
                                                   "train": {"type": "integer"},
                                                   "val": {"type": "integer"}}},
                           "epochs": {"type": "integer", "minimum": 1},
                           "epochs_note": {"type": "string"},
                           "batch_size": {"type": ["integer", "null"], "minimum": 0},
                           "parity_steps": {"type": ["integer", "null"], "minimum": 1},
                           "parity_samples": {"type": ["integer", "null"], "minimum": 1},
                           "reference": {"type": "string"}, "sweep": {"type": "boolean"}},
        },
        "implementations": _STRS,
        "skipped": {"type": "array", "items": {
            "type": "object", "required": ["name", "reason"],
            "properties": {"name": {"type": "string"}, "reason": {"type": "string"}}}},
        "parity": {"type": ["object", "null"], "required": ["ok", "differences",
                                                           "finite_difference"],
                   "properties": {
                       "ok": {"type": "boolean"},
                       "differences": {"type": "array", "items": _DIFFERENCE},
                       "finite_difference": {
                           "type": "object",
                           "required": ["tolerance", "entries_per_parameter", "note", "errors"],
                           "properties": {
                               "tolerance": _NUM, "entries_per_parameter": {"type": "integer"},
                               "note": {"type": "string"},
                               "errors": {"type": "object", "additionalProperties": {
                                   "type": "object", "additionalProperties": _NUM}}}}}},
        "training": {"type": ["object", "null"], "required": ["epochs", "batch_size",
                                                             "implementations"],
                     "properties": {
                         "epochs": {"type": "integer"}, "batch_size": {"type": "integer"},
                         "implementations": {"type": "object", "additionalProperties": {
                             "type": "object",
                             "required": ["history", "seconds", "seconds_per_epoch",
                                          "untrained", "final", "distance_from_reference"],
                             "properties": {
                                 "history": _HISTORY, "seconds": _NUM,
                                 "seconds_per_epoch": _NUM,
                                 "untrained": {"type": "object",
                                               "required": ["loss", "accuracy", "val_loss",
                                                            "val_accuracy"]},
                                 "final": {"type": "object",
                                           "required": ["loss", "accuracy", "val_loss",
                                                        "val_accuracy"]},
                                 "stopped_epoch": {"type": ["integer", "null"]},
                                 "distance_from_reference": {"type": ["number", "string",
                                                                      "null"]}}}}}},
        "divergence": {"type": ["object", "null"], "required": ["steps", "batch_size",
                                                               "implementations"],
                       "properties": {"steps": {"type": "integer"},
                                      "batch_size": {"type": "integer"},
                                      "implementations": {"type": "object",
                                                          "additionalProperties": _TRAJECTORY}}},
        "native": {"type": ["object", "null"], "additionalProperties": {
            "type": "object",
            "required": ["reference", "final_distance", "at_init", "explanations"],
            "properties": {"reference": {"type": "string"}, "final_distance": _NUM,
                           "at_init": {"type": "string"}, "explanations": _STRS}}},
        "sweep": {"type": ["object", "null"], "required": ["epochs", "configs"],
                  "properties": {"epochs": {"type": "integer"}, "configs": {
                      "type": "array", "items": {
                          "type": "object",
                          "required": ["label", "optimizer", "learning_rate", "batch_size",
                                       "regularization", "results"],
                          "properties": {"label": {"type": "string"},
                                         "optimizer": {"type": "string"},
                                         "learning_rate": _NUM,
                                         "batch_size": {"type": "integer"},
                                         "regularization": {"enum": ["none", "l2", "dropout"]},
                                         "results": {"type": "object",
                                                     "additionalProperties": _SWEEP_RESULT}}}}}},
        "plots": {"type": "array", "items": {
            "type": "object", "required": ["name", "file", "title"],
            "properties": {"name": {"enum": list(PLOT_TITLES)}, "file": {"type": "string"},
                           "title": {"type": "string"}}}},
        "plot_errors": _STRS,
        "files": _STRS,
        "file_digests": {"type": "object", "additionalProperties": {"type": "string"}},
        "verdict": {"type": "object",
                    "required": ["ok", "compared", "exit_code", "summary", "first_divergence",
                                 "failures"],
                    "properties": {"ok": {"type": "boolean"}, "compared": {"type": "boolean"},
                                   "exit_code": {"enum": [0, 1, 4]},
                                   "summary": {"type": "string"},
                                   "first_divergence": {"type": ["string", "null"]},
                                   "failures": _STRS}},
        "seconds": _NUM,
    },
}

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(instance, schema: dict = RESULTS_SCHEMA, path: str = "$") -> list[str]:
    """Every violation of ``schema`` (a JSON-Schema subset) as 'path: problem'; [] when valid."""
    errors = []
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_TYPES[t](instance) for t in types):
            return [f"{path}: expected {' or '.join(types)}, got {type(instance).__name__}"]
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{path}: expected one of {schema['enum']}, got {instance!r}")
    if "minimum" in schema and _TYPES["number"](instance) and instance < schema["minimum"]:
        errors.append(f"{path}: expected >= {schema['minimum']}, got {instance!r}")
    if isinstance(instance, str) and schema.get("type") == ["number", "string"] \
            and instance not in ("nan", "inf", "-inf"):
        errors.append(f"{path}: expected a number or 'nan'/'inf'/'-inf', got {instance!r}")
    if isinstance(instance, dict):
        for key in schema.get("required", []):
            if key not in instance:
                errors.append(f"{path}: missing required key {key!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            if key in properties:
                errors += validate(value, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                errors += validate(value, extra, f"{path}.{key}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            errors.append(f"{path}: expected at least {schema['minItems']} items")
        if len(instance) > schema.get("maxItems", math.inf):
            errors.append(f"{path}: expected at most {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(instance):
                errors += validate(item, schema["items"], f"{path}[{i}]")
    return errors
