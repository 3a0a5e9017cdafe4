# SPDX-License-Identifier: LGPL-2.1-or-later
"""The chart of bench/run: median ops/s per workload, kernel vs uringd vs psync.

With matplotlib (Debian: python3-matplotlib) a labelled bar chart; without
it, the same bars written as a PNG by hand (zlib), unlabelled but in the
same order and colours, so that the run never depends on it.
"""

import math
import struct
import zlib

SERIES = [("kernel", "#4c72b0"), ("uringd", "#dd8452"), ("psync1", "#55a868")]


def _values(summ):
    names = [s["workload"] for s in summ]
    vals = {e: [s["engines"].get(e, {}).get("ops_per_sec") or 0 for s in summ] for e, _ in SERIES}
    return names, vals


def _matplotlib(summ, path, mach):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, vals = _values(summ)
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.9), 5.5))
    w = 0.27
    for i, (e, colour) in enumerate(SERIES):
        xs = [j + (i - 1) * w for j in range(len(names))]
        ax.bar(xs, [v if v > 0 else float("nan") for v in vals[e]], w, label=e, color=colour)
    ax.set_yscale("log")
    ax.set_ylabel("ops/s (median, log scale)")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
    for j, s in enumerate(summ):
        r = s["ratios"].get("uringd/kernel")
        if r is not None:
            top = max(vals[e][j] for e, _ in SERIES)
            ax.text(j, top * 1.15, f"{r:.2f}x", ha="center", fontsize=7)
    ax.set_title(f"uringd vs kernel io_uring vs psync ({mach['nproc']} CPUs, {mach['cpu']}, "
                 f"{mach['kernel']}); label: uringd/kernel", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _png(path, width, height, pixels):
    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)

    raw = b"".join(b"\x00" + bytes(row) for row in pixels)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def _by_hand(summ, path):
    names, vals = _values(summ)
    group, bar, pad, height = 40, 12, 20, 300
    width = pad * 2 + group * max(1, len(names))
    top = max([v for e in vals for v in vals[e]] + [10])
    img = [[255] * (width * 3) for _ in range(height)]
    for j in range(len(names)):
        for i, (e, colour) in enumerate(SERIES):
            v = vals[e][j]
            if v <= 0:
                continue
            # Log scale from 1e3 ops/s.
            h = int((height - pad * 2) * max(0.0, math.log10(v) - 3) / max(1e-9, math.log10(top) - 3))
            rgb = [int(colour[k:k + 2], 16) for k in (1, 3, 5)]
            x0 = pad + j * group + i * bar
            for y in range(height - pad - h, height - pad):
                for x in range(x0, x0 + bar - 2):
                    img[y][x * 3:x * 3 + 3] = rgb
    _png(path, width, height, img)


def write_png(summ, path, mach):
    try:
        _matplotlib(summ, path, mach)
    except ImportError:
        _by_hand(summ, path)
