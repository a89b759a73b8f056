"""Plots of the committed results (matplotlib, Agg), byte-for-byte reproducible.

- throughput_latency.png: per-request output tokens/s and per-sample end-to-end latency, per (model, system),
  with the paper's Cerebras (~2,000 tok/s) and typical-GPU (~200 tok/s) figures as reference lines.
- accuracy_vs_tokens.png: avg@k with 95% interval against mean response tokens, and against mean latency.
- ablation_deltas.png: each test-time component minus plain (paired 95% interval) per benchmark, with the
  paper's Table 2 deltas.

Determinism: matplotlib's default style (rcdefaults, no user matplotlibrc), fixed size and dpi, no timestamps
or version strings in the PNG (savefig metadata Software=None), sorted inputs.

    python -m analysis        # writes results/plots/*.png
"""

from __future__ import annotations

from pathlib import Path

from analysis.catalogue import ABLATION_SYSTEMS, BASELINE_SYSTEM, TABLE2_BENCHMARKS, label
from analysis.cells import paper_delta
from analysis.render import GENERATED
from analysis.summary import Summary

DPI = 100
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
FILLS = ("full", "none", "left", "bottom", "right", "top")  # one per model (marker = system, color = suite)
PLOT_METADATA = {"Software": None, "Comment": GENERATED}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    matplotlib.rcdefaults()
    matplotlib.rcParams.update({"svg.hashsalt": "k2bench", "font.size": 9, "figure.dpi": DPI})
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=DPI, metadata=PLOT_METADATA)
    data = tmp.read_bytes()
    tmp.unlink()
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)
    return path


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="0.4", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _groups(summary: Summary) -> list[tuple[str, str]]:
    return sorted({(k[0], k[1]) for k in summary.stats})


def throughput_latency(summary: Summary, out: Path) -> Path:
    plt = _pyplot()
    rep = summary.reported
    groups = _groups(summary)
    # horizontal boxes, one row per (model, system): labels stay readable however many systems are committed
    height = max(3.2, 1.2 + 0.38 * len(groups))
    fig, (ax_tps, ax_lat) = plt.subplots(1, 2, figsize=(11, height), sharey=True)
    tps_data, lat_data, labels = [], [], []
    for model, system in groups:
        stats = [st for k, st in summary.stats.items() if k[:2] == (model, system)]
        tps_data.append([c.tokens_per_second for st in stats for c in st.run.solver_calls() if c.tokens_per_second])
        lat_data.append([s.latency_s for st in stats for s in st.run.samples if s.latency_s is not None])
        labels.append(f"{model} · {system}")
    if groups:
        ax_tps.boxplot(tps_data, tick_labels=labels, showfliers=True, orientation="horizontal")
        ax_lat.boxplot(lat_data, tick_labels=labels, showfliers=True, orientation="horizontal")
        ax_tps.invert_yaxis()  # first group on top, as in the tables
        ax_tps.set_xscale("log")  # CPU runs (~1-100 tok/s) and the paper's ~2,000 tok/s share one axis
        for cell, color in (
            (rep.one("speed", benchmark="tokens_per_second", row="Cerebras WSE (K2-Think deployment)"), "tab:red"),
            (rep.one("speed", benchmark="tokens_per_second", row="typical cloud setup (H100/H200)"), "tab:blue"),
        ):
            if cell is not None:
                ax_tps.axvline(cell.value, color=color, linestyle="--", linewidth=1)
                ax_tps.text(
                    cell.value * 0.9,
                    0.02,
                    f"paper: {cell.row.split(' (')[0]} ~{cell.value:g} tok/s",
                    color=color,
                    fontsize=7,
                    rotation=90,
                    ha="right",
                    va="bottom",
                    transform=ax_tps.get_xaxis_transform(),
                )
        n_req = sum(len(d) for d in tps_data)
        n_samples = sum(len(d) for d in lat_data)
        ax_tps.set_title(f"Output tokens/s per request (n={n_req} requests)")
        ax_lat.set_title(f"End-to-end latency per sample (n={n_samples})")
        ax_tps.set_xlabel("tokens / s (log)")
        ax_lat.set_xlabel("seconds")
        ax_lat.ticklabel_format(axis="x", style="plain", useOffset=False)
        for ax in (ax_tps, ax_lat):
            ax.grid(True, axis="x", alpha=0.3)
    else:
        _empty(ax_tps, "no runs in results/logs/committed")
        _empty(ax_lat, "no runs in results/logs/committed")
    fig.suptitle("Speed per (model, system) (box: quartiles; whiskers 1.5 IQR)")
    fig.tight_layout()
    path = _save(fig, out / "throughput_latency.png")
    plt.close(fig)
    return path


def accuracy_vs_cost(summary: Summary, out: Path) -> Path:
    plt = _pyplot()
    fig, (ax_tok, ax_lat) = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    systems = sorted({k[1] for k in summary.stats}, key=lambda s: ((ABLATION_SYSTEMS + (s,)).index(s), s))
    suites = summary.suites()
    colors = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(suites)}
    models = summary.models()
    for (model, system, suite), st in summary.stats.items():
        acc = st.accuracy
        marker = MARKERS[systems.index(system) % len(MARKERS)]
        fill = FILLS[models.index(model) % len(FILLS)]
        yerr = [[100 * (acc.mean - acc.ci_low)], [100 * (acc.ci_high - acc.mean)]]
        for ax, x in ((ax_tok, st.response_tokens.mean if st.response_tokens else None), (ax_lat, st.latency_mean_s)):
            if x is None:
                continue
            ax.errorbar(
                [x],
                [100 * acc.mean],
                yerr=yerr,
                fmt=marker,
                color="0.75" if st.degenerate else colors[suite],  # degenerate: not a measurement of the system
                capsize=3,
                markersize=6,
                fillstyle=fill,
            )
    if summary.stats:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], marker="o", linestyle="", color=colors[s], label=s) for s in suites]
        handles += [
            Line2D([], [], marker=MARKERS[i % len(MARKERS)], linestyle="", color="0.3", label=f"system: {s}")
            for i, s in enumerate(systems)
        ]
        handles += [
            Line2D([], [], marker="o", linestyle="", color="0.3", fillstyle=FILLS[i % len(FILLS)], label=f"model: {m}")
            for i, m in enumerate(models)
        ]
        ax_lat.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        ax_tok.set_xlabel("mean response tokens")
        ax_lat.set_xlabel("mean end-to-end latency per sample (s)")
        ax_tok.set_ylabel("avg@k accuracy % (95% interval)")
        ax_tok.set_title("Accuracy vs response length")
        ax_lat.set_title("Accuracy vs latency")
        top = max(100 * st.accuracy.ci_high for st in summary.stats.values())
        for ax in (ax_tok, ax_lat):
            ax.grid(True, alpha=0.3)
            ax.set_ylim(-0.5, max(5.0, 1.15 * top))  # accuracy near 0 still shows on a readable scale
    else:
        _empty(ax_tok, "no runs")
        _empty(ax_lat, "no runs")
    fig.suptitle(
        "One point per (model, system, suite): color = suite, marker = system, fill = model; "
        "light grey = degenerate system cell (planner / judge failed)"
    )
    fig.tight_layout()
    path = _save(fig, out / "accuracy_vs_tokens.png")
    plt.close(fig)
    return path


def ablation_deltas(summary: Summary, out: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.2))
    systems = [s for s in ABLATION_SYSTEMS if s != BASELINE_SYSTEM]
    benchmarks = list(TABLE2_BENCHMARKS) + [s for s in summary.suites() if s not in TABLE2_BENCHMARKS]
    width = 0.8 / len(systems)
    colors = {s: plt.get_cmap("tab10")(i) for i, s in enumerate(systems)}
    drawn_ours = 0
    for j, system in enumerate(systems):
        xs_paper, ys_paper = [], []
        for i, bench in enumerate(benchmarks):
            x = i + (j - (len(systems) - 1) / 2) * width
            pd = paper_delta(summary, system, bench)
            if pd is not None:
                xs_paper.append(x)
                ys_paper.append(pd)
            for m_i, model in enumerate(summary.models()):
                d = summary.delta(model, system, bench)
                if d is None:
                    continue
                c = d.comparison
                xm = x + 0.04 * m_i
                ax.errorbar(
                    [xm],
                    [100 * c.delta],
                    yerr=[[100 * (c.delta - c.ci_low)], [100 * (c.ci_high - c.delta)]],
                    fmt=MARKERS[m_i % len(MARKERS)],
                    color=colors[system],
                    capsize=3,
                    label=f"ours {model}: {system}" if i == 0 or drawn_ours == 0 else None,
                )
                drawn_ours += 1
        ax.scatter(
            xs_paper,
            ys_paper,
            marker="_",
            s=200,
            color=colors[system],
            linewidths=2.5,
            label=f"paper K2-Think: {system}",
        )
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set_xticks(range(len(benchmarks)), [label(b) for b in benchmarks], fontsize=8)
    ax.set_ylabel("Δ accuracy vs plain (pp)")
    title = "Test-time components minus plain: paper (bars) and ours (points, paired 95% bootstrap interval)"
    left_out: dict[str, list[str]] = {}
    for model, system, _ in summary.excluded:
        if system not in left_out.setdefault(model, []):
            left_out[model].append(system)
    if left_out:
        title += "\nleft out as degenerate (planner / judge failed on >10% of calls): " + "; ".join(
            f"{m}: {', '.join(s for s in ABLATION_SYSTEMS if s in systems)}" for m, systems in sorted(left_out.items())
        )
    elif drawn_ours == 0:
        title += "\nours: no paired system runs committed yet (only plain)"
    ax.set_title(title, fontsize=9)
    handles, labels_ = ax.get_legend_handles_labels()
    unique = dict(zip(labels_, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="best")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    path = _save(fig, out / "ablation_deltas.png")
    plt.close(fig)
    return path


def all_plots(summary: Summary, out: Path) -> list[Path]:
    return [throughput_latency(summary, out), accuracy_vs_cost(summary, out), ablation_deltas(summary, out)]


def png_text_chunks(path: Path) -> dict[str, str]:
    """tEXt chunks of a PNG (used by tests: no timestamp, the generated marker present)."""
    import struct
    import zlib

    data = Path(path).read_bytes()
    chunks, pos = {}, 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            chunks[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            chunks[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"tIME":
            chunks["tIME"] = body.hex()
        pos += 12 + length
    return chunks
