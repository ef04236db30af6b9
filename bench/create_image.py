#!/usr/bin/env python3
"""Benchmark: create an image from an instance that changed ~280 MB (PEERS.md workload 3).

The instance's change: 200 MB of incompressible data in one file, 20,000 files of 1 KB, and a few
deletions from the base. For each consistency mode, `kiln image create --wait` is timed several
times; the instance's freeze time (reported by kilnd), the bytes added to the store and kilnd's
peak RSS are printed, next to the bound: `tar -c` of the same upper dir to a file + sync.

Run as root after scripts/build: `bench/create_image.py [--runs N]`. Peer figures (podman and
buildah commit) are quoted from ../shared/PEERS.md, not measured side by side here.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("KILN_BIN_DIR", os.path.join(HERE, "..", "build", "src"))
KILN, KILND = os.path.join(BIN, "kiln"), os.path.join(BIN, "kilnd")


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw)


def settle():
    # The disk is ext4 with discard: sync and give deletions a moment before timing.
    subprocess.run(["sync"])
    time.sleep(1)


def du(path):
    return int(run("du", "-sb", path).stdout.split()[0])


def stats(xs):
    return statistics.median(xs), min(xs), max(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/var/tmp", help="where the benchmark root lives (a real disk)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/create_image.py: run as root")
    work = tempfile.mkdtemp(prefix="kiln-bench-", dir=args.dir)
    root, sock = os.path.join(work, "root"), os.path.join(work, "kiln.sock")
    daemon = subprocess.Popen([KILND, "--root", root, "--socket", sock],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "kilnd.log"), "w"))
    kiln = lambda *a: run(KILN, "--socket", sock, "-q", *a)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        base = os.path.join(work, "base")
        for d in ["bin", "etc", "root", "tmp", "usr/share/doc"]:
            os.makedirs(os.path.join(base, d))
        shutil.copy2("/bin/busybox", os.path.join(base, "bin", "busybox"))
        for a in ["sh", "ls", "cat", "rm"]:
            os.symlink("busybox", os.path.join(base, "bin", a))
        for i in range(50):
            with open(os.path.join(base, "usr/share/doc", f"doc{i}"), "w") as f:
                f.write("doc\n" * 100)
        kiln("image", "import", base, "--name", "base")
        iid = kiln("launch", "base", "--name", "src", "--type", "large").stdout.strip()
        rootfs = os.path.join(root, "instances", iid, "rootfs")
        upper = os.path.join(root, "instances", iid, "upper")
        with open(os.path.join(rootfs, "root", "big.bin"), "wb") as f:
            for _ in range(200):
                f.write(os.urandom(1 << 20))
        small = os.path.join(rootfs, "srv", "small")
        os.makedirs(small)
        payload = os.urandom(1024)
        for i in range(20000):
            with open(os.path.join(small, f"f{i:05d}"), "wb") as f:
                f.write(payload)
        for i in range(5):
            os.remove(os.path.join(rootfs, "usr/share/doc", f"doc{i}"))
        change = du(upper)

        bound = []
        for _ in range(args.runs):
            settle()
            t = time.monotonic()
            subprocess.run(f"tar -C {upper} -cf {work}/bound.tar . && sync", shell=True, check=True)
            bound.append(time.monotonic() - t)
            os.remove(f"{work}/bound.tar")

        results = {}
        for mode in ["freeze", "no-reboot", "stop"]:
            times, frozen, added = [], [], []
            for r in range(args.runs):
                settle()
                before = du(os.path.join(root, "blobs"))
                t = time.monotonic()
                flags = [] if mode == "freeze" else [f"--{mode}"]
                kiln("image", "create", "src", "--name", f"img-{mode}-{r}", "--wait", *flags)
                times.append(time.monotonic() - t)
                info = json.loads(kiln("--json", "image", "inspect", f"img-{mode}-{r}").stdout)
                frozen.append(info.get("frozen_seconds", 0.0))
                added.append(du(os.path.join(root, "blobs")) - before)
                kiln("image", "rm", f"img-{mode}-{r}")
                kiln("gc")
            results[mode] = (times, frozen, added)
        with open(f"/proc/{daemon.pid}/status") as f:
            rss = next(l.split()[1] for l in f if l.startswith("VmHWM"))

        print(f"create image: instance changed {change / 1e6:.0f} MB "
              f"(200 MB in one file, 20,000 x 1 KB, 5 deletions); {args.runs} runs each")
        print(f"{'work':34} {'median':>8} {'min':>8} {'max':>8} {'frozen':>8} {'store +MB':>10}")
        for mode, (times, frozen, added) in results.items():
            m, lo, hi = stats(times)
            print(f"{'kiln image create (' + mode + ')':34} {m:8.2f} {lo:8.2f} {hi:8.2f} "
                  f"{statistics.median(frozen):8.2f} {statistics.median(added) / 1e6:10.0f}")
        m, lo, hi = stats(bound)
        print(f"{'bound: tar -c upper + sync':34} {m:8.2f} {lo:8.2f} {hi:8.2f}")
        fm = stats(results["freeze"][0])[0]
        print(f"kilnd peak RSS: {int(rss) / 1024:.0f} MiB")
        print(f"ratio kiln(freeze)/bound: {fm / m:.2f}; vs podman commit 21-23 s and buildah commit "
              f"14-24 s from PEERS.md (not side by side): {fm / 22:.3f} / {fm / 19:.3f}")
    finally:
        subprocess.run([KILN, "--socket", sock, "rm", "-f", "src"], capture_output=True)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
