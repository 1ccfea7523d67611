#!/usr/bin/env python3
"""Start-up benchmark: median wall time and peak RSS of `tide -e ''`, beside
`lua5.4 -e ''` and `python3 -c 'import numpy'` when they are installed.
Each command runs 30 times under bench/runrss (a small C parent using wait4)."""
import json, os, shutil, subprocess, sys

def main():
    tide, runrss = sys.argv[1], sys.argv[2]
    out = sys.argv[3] if len(sys.argv) > 3 else None
    rows = []
    def run(name, cmd):
        r = subprocess.run([runrss, "30"] + cmd, capture_output=True, text=True, check=True)
        wall, rss = r.stdout.split()
        wall, rss = float(wall), int(rss) / 1024
        rows.append({"bench": "startup", "impl": name, "wall_s": wall, "peak_rss_mb": rss})
        print(f"startup  {name:<28} wall {wall * 1000:7.2f} ms   peak RSS {rss:6.1f} MB")
    run("tide -e ''", [tide, "-e", ""])
    if shutil.which("lua5.4"):
        run("lua5.4 -e ''", ["lua5.4", "-e", ""])
    try:
        import numpy  # noqa: F401
        run("python3 -c 'import numpy'", [sys.executable, "-c", "import numpy"])
    except ImportError:
        print("startup  numpy not installed: no peer figure")
    t = rows[0]
    for r in rows[1:]:
        print(f"startup  {r['impl']} / tide: wall {r['wall_s'] / t['wall_s']:.2f}x, "
              f"peak RSS {r['peak_rss_mb'] / t['peak_rss_mb']:.2f}x")
    if out:
        with open(out, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")

if __name__ == "__main__":
    main()
