#!/usr/bin/env python3
"""Start-up benchmark: wall time and peak RSS of `tide -e ''`, beside
`lua5.4 -e ''` and `python3 -c 'import numpy'` when they are installed."""
import json, shutil, subprocess, sys

def main():
    tide = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else None
    rows = []
    # Each command in its own child so RUSAGE_CHILDREN's max is its own.
    def run(name, cmd):
        code = ("import resource,subprocess,time,sys,json\n"
                "cmd=json.loads(sys.argv[1]); w=[]\n"
                "for _ in range(30):\n"
                "  t=time.perf_counter(); subprocess.run(cmd,check=True,stdout=subprocess.DEVNULL); w.append(time.perf_counter()-t)\n"
                "w.sort(); print(json.dumps([w[len(w)//2], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))\n")
        r = subprocess.run([sys.executable, "-c", code, json.dumps(cmd)], capture_output=True,
                           text=True, check=True)
        wall, rss = json.loads(r.stdout)
        rows.append({"bench": "startup", "impl": name, "wall_s": wall, "peak_rss_mb": rss / 1024})
        print(f"startup  {name:<24} wall {wall * 1000:7.2f} ms   peak RSS {rss / 1024:6.1f} MB")
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
        print(f"startup  tide vs {r['impl']}: {r['wall_s'] / t['wall_s']:.1f}x faster start, "
              f"{r['peak_rss_mb'] / t['peak_rss_mb']:.1f}x the memory of tide")
    if out:
        with open(out, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")

if __name__ == "__main__":
    main()
