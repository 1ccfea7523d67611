#!/usr/bin/env python3
"""joblib's side of bench/persist.lua, with Debian's joblib and numpy:
joblib.hash of the same GB-sized float64 array, a joblib.Memory hit on a
function returning an 800 MB array (loaded, and with mmap_mode="r"), and
joblib.dump of the array (np.save beside it) to the same folder.
usage: persist_joblib.py [GB=1] [result MB=800] [dir=bench-out/persist-py] [json-out]"""
import json, os, shutil, subprocess, sys, time

def main():
    import numpy as np
    import joblib
    gb = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    result_mb = float(sys.argv[2]) if len(sys.argv) > 2 else 800.0
    folder = sys.argv[3] if len(sys.argv) > 3 else "bench-out/persist-py"
    out = sys.argv[4] if len(sys.argv) > 4 else None
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    rows = []
    def record(name, value, unit):
        print(f"persist  joblib {joblib.__version__:<6} {name:<34} {value:10.4g} {unit}")
        rows.append({"bench": "persist", "impl": "joblib", "what": name, "value": value,
                     "unit": unit})

    n = int(gb * 1e9 / 8)
    x = np.random.default_rng(1).random(n)
    t = time.perf_counter()
    joblib.hash(x)
    record("hash first", x.nbytes / 1e9 / (time.perf_counter() - t), "GB/s")
    t = time.perf_counter()
    joblib.hash(x)
    record("hash again (unchanged)", (time.perf_counter() - t) * 1e3, "ms")

    path = os.path.join(folder, "x.pkl")
    best = 0.0
    for _ in range(2):
        t = time.perf_counter()
        joblib.dump({"X": x, "note": "bench"}, path)
        with open(path, "rb+") as f:
            os.fsync(f.fileno())
        best = max(best, x.nbytes / (time.perf_counter() - t))
    record("dump (+ fsync)", best / 1e9, "GB/s")
    t = time.perf_counter()
    joblib.load(path, mmap_mode="r")
    record("load mmap_mode=r", (time.perf_counter() - t) * 1e3, "ms")
    os.remove(path)
    del x

    rn = int(result_mb * 1e6 / 8)
    cache = os.path.join(folder, "cache")
    script = f"""
import sys, time, numpy as np, joblib
mem = joblib.Memory({cache!r}, verbose=0, mmap_mode=sys.argv[1] if sys.argv[1] != 'none' else None)
@mem.cache
def make(k):
    return np.random.default_rng(2).random(k)
t = time.perf_counter()
r = make({rn})
print(time.perf_counter() - t, type(r).__name__)
"""
    hit = os.path.join(folder, "hit.py")
    with open(hit, "w") as f:
        f.write(script)
    def run(mode):
        o = subprocess.run([sys.executable, hit, mode], capture_output=True, text=True,
                           check=True).stdout.split()
        return float(o[0])
    record("memoize miss (compute + store)", run("none"), "s")
    record("memoize hit, loaded, fresh process", run("none") * 1e3, "ms")
    record("memoize hit, mmap_mode=r, fresh process", run("r") * 1e3, "ms")
    shutil.rmtree(folder, ignore_errors=True)
    if out:
        with open(out, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")

if __name__ == "__main__":
    main()
