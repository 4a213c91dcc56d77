"""Draws bench/soak.sh's samples: one panel per measure over time, the load's end marked.

Usage: python3 bench/soak_chart.py SAMPLES.tsv OUT.png
Writes OUT.svg, and OUT.png through headless Chromium when it is installed.
"""
import os
import shutil
import subprocess
import sys

rows = [line.split("\t") for line in open(sys.argv[1]).read().split("\n") if line]
out = sys.argv[2]
start = int(rows[0][0])
data = [(int(t) - start, phase, int(rss) / 1024, int(fds), int(th), int(inf), int(db) / 1024)
        for t, phase, rss, fds, th, inf, db in rows]
panels = [(2, "RSS (MiB)", "#1f77b4"), (3, "open file descriptors", "#d62728"),
          (5, "requests in flight", "#9467bd"), (6, "data directory (MiB)", "#ff7f0e")]
W, PH, L, R, T = 900, 150, 70, 20, 40
H = T + PH * len(panels) + 30
span = max(d[0] for d in data) or 1
load_end = max((d[0] for d in data if d[1] == "load"), default=span)
x = lambda t: L + (W - L - R) * t / span
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="22" font-size="15" font-weight="bold">OnDemand Proxy soak: {span} s '
       f'(traffic until {load_end} s, then idle)</text>']
for i, (k, label, colour) in enumerate(panels):
    top, bottom = T + i * PH + 10, T + (i + 1) * PH - 20
    peak = max(d[k] for d in data) or 1
    y = lambda v: bottom - (bottom - top) * v / peak
    svg.append(f'<line x1="{L}" y1="{bottom}" x2="{W - R}" y2="{bottom}" stroke="#999"/>')
    svg.append(f'<line x1="{x(load_end)}" y1="{top}" x2="{x(load_end)}" y2="{bottom}" stroke="#bbb" stroke-dasharray="4 3"/>')
    svg.append(f'<text x="{L - 6}" y="{top + 4}" text-anchor="end">{peak:.0f}</text>')
    svg.append(f'<text x="{L - 6}" y="{bottom}" text-anchor="end">0</text>')
    svg.append(f'<text x="{W - R}" y="{top - 2}" text-anchor="end" fill="{colour}" font-weight="bold">{label}</text>')
    points = " ".join(f"{x(d[0]):.1f},{y(d[k]):.1f}" for d in data)
    svg.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
for t in range(0, span + 1, max(60, span // 10 // 60 * 60)):
    svg.append(f'<text x="{x(t):.0f}" y="{H - 10}" text-anchor="middle">{t} s</text>')
svg.append("</svg>")
base = os.path.splitext(out)[0]
open(base + ".svg", "w").write("\n".join(svg))
chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if chromium:
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={W},{H}", f"--screenshot={os.path.abspath(out)}",
                    "file://" + os.path.abspath(base + ".svg")], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"chart: {out if chromium and os.path.exists(out) else base + '.svg'}")
