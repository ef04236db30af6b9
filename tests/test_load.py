"""Load: 50 concurrent API clients launch, exec, create images and terminate for a bounded time.
Every request is answered, every state is consistent afterwards, and nothing is leaked.

KILN_LOAD_CLIENTS (default 50) and KILN_LOAD_SECONDS (default 45) size the run.
"""
import collections
import json
import os
import statistics
import subprocess
import threading
import time

from kiln_harness import KILN, KilnTestCase, make_busybox_rootfs, mounts_under, require_tool

CLIENTS = int(os.environ.get("KILN_LOAD_CLIENTS", "50"))
SECONDS = float(os.environ.get("KILN_LOAD_SECONDS", "45"))


class LoadTest(KilnTestCase):

    def setUp(self):
        require_tool("runc")
        super().setUp()
        self.kiln("image", "import", make_busybox_rootfs(self.path("rootfs")), "--name", "base")
        self.lock = threading.Lock()
        self.calls = collections.defaultdict(list)  # verb -> [seconds]
        self.failures = []

    def call(self, verb, *args, expect=(0,)):
        t = time.monotonic()
        try:
            r = subprocess.run([KILN, "--socket", self.socket, *args], capture_output=True,
                               text=True, timeout=180)
        except subprocess.TimeoutExpired:
            with self.lock:
                self.failures.append(f"{' '.join(args)}: no answer within 180 s")
            return None
        with self.lock:
            self.calls[verb].append(time.monotonic() - t)
            if r.returncode not in expect:
                self.failures.append(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    def client(self, n, deadline):
        k = 0
        while time.monotonic() < deadline:
            k += 1
            name = f"c{n}-{k}"
            r = self.call("launch", "launch", "base", "--name", name)
            if r is None or r.returncode != 0:
                continue
            r = self.call("exec", "exec", name, "--", "sh", "-c",
                          f"echo {name} > /root/who; cat /root/who")
            if r is not None and r.returncode == 0 and r.stdout.strip() != name:
                with self.lock:
                    self.failures.append(f"exec in {name} printed {r.stdout!r}")
            if k % 3 == 1:
                img = f"img-{name}"
                self.call("image create", "image", "create", name, "--name", img, "--wait")
                self.call("image inspect", "image", "inspect", img)
                self.call("image rm", "image", "rm", img)
            # Contended requests: listing, and removing an image that instances use (refused).
            self.call("ls", "--json", "ls")
            self.call("image rm (in use)", "image", "rm", "base", expect=(4,))
            self.call("rm", "rm", "-f", name)

    def test_50_clients(self):
        deadline = time.monotonic() + SECONDS
        threads = [threading.Thread(target=self.client, args=(n, deadline)) for n in range(CLIENTS)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        total = sum(len(v) for v in self.calls.values())
        print(f"\nload: {CLIENTS} clients, {elapsed:.0f} s, {total} requests")
        for verb, times in sorted(self.calls.items()):
            times.sort()
            print(f"  {verb:18} {len(times):5}  median {statistics.median(times) * 1000:7.0f} ms"
                  f"  max {times[-1] * 1000:7.0f} ms")
        self.assertEqual(self.failures[:20], [])
        self.assertGreaterEqual(len(self.calls["launch"]), CLIENTS)
        self.assertGreater(len(self.calls["image create"]), 0)
        # States are consistent: no instance left, nothing pending, nothing leaked.
        self.assertEqual(self.kiln_json("ls"), [])
        images = self.kiln_json("image", "ls")
        self.assertEqual([i["name"] for i in images], ["base"])
        self.assertEqual(images[0]["state"], "available")
        self.assertIn("ok", self.kiln("image", "verify").stdout)
        self.assertEqual(mounts_under(self.root), [])
        runtime = os.path.join(self.root, "runtime")
        r = subprocess.run(["runc", "--root", runtime, "list", "-q"], capture_output=True,
                           text=True)
        self.assertEqual(r.stdout.split(), [])
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        ours = set(os.listdir(os.path.join(self.root, "instances")))
        self.assertEqual([l for l in netns.splitlines() if l.split()[0][5:] in ours], [])
        links = json.loads(subprocess.run(["ip", "-j", "link", "show", "master",
                                           self.daemon.bridge], capture_output=True,
                                          text=True).stdout or "[]")
        self.assertEqual(links, [])
        self.assertEqual(os.listdir(os.path.join(self.root, "tmp")), [])
        with open(f"/proc/{self.daemon.proc.pid}/status") as f:
            rss = [l for l in f if l.startswith(("VmHWM", "Threads"))]
        print("  kilnd " + ", ".join(l.split(":")[0] + " " + l.split(":")[1].strip() for l in rss))
