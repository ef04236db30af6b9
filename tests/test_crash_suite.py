"""The crash suite: kill -9 of kilnd at many points of import, image create, snapshot, pull and gc,
then a restart, and the proof that nothing that was there before is lost or damaged and nothing
is left half done (pending records, temp files, mounts, runtime state, namespaces).

It runs KILN_CRASH_KILLS kills (default 80) in a bounded time; a longer run is one variable away:
KILN_CRASH_KILLS=500 python3 -m unittest test_crash_suite
"""
import collections
import json
import os
import random
import subprocess
import time

from kiln_harness import (KILN, KilnTestCase, make_busybox_rootfs, mounts_under, Registry,
                          require_tool)

KILLS = int(os.environ.get("KILN_CRASH_KILLS", "80"))
PAYLOAD_MB = 48


class CrashSuiteTest(KilnTestCase):

    def setUp(self):
        require_tool("runc")
        super().setUp()
        self.rng = random.Random(int(os.environ.get("KILN_CRASH_SEED", "20261203")))
        self.kiln("image", "import", make_busybox_rootfs(self.path("rootfs")), "--name", "base")
        # What import reads: a rootfs tarball with an incompressible payload.
        tree = make_busybox_rootfs(self.path("payload-tree"))
        with open(os.path.join(tree, "payload"), "wb") as f:
            f.write(os.urandom(PAYLOAD_MB << 20))
        self.tarball = self.path("payload.tar")
        subprocess.run(["tar", "-C", tree, "-cf", self.tarball, "."], check=True)
        # What image create and snapshot capture: an instance with a changed file.
        self.kiln("launch", "base", "--name", "src", "--network", "none")
        self.kiln("exec", "src", "--", "dd", "if=/dev/urandom", "of=/root/change", "bs=1M",
                  f"count={PAYLOAD_MB}")
        self.change_sum = self.instance_sum()
        # What pull fetches: the payload image in a real registry on loopback.
        self.registry = Registry(self.path("registry")).start()
        self.addCleanup(self.registry.stop)
        self.kiln("image", "import", self.tarball, "--name", "payload")
        self.pull_ref = f"{self.registry.host}/crash/payload:v1"
        self.kiln("image", "push", "payload", self.pull_ref)
        self.kiln("snapshot", "create", "src", "--name", "snap-0")
        self.counter = 0

    def instance_sum(self):
        return self.kiln("exec", "src", "--", "sh", "-c",
                         "cat /root/change | busybox sha256sum").stdout.split()[0]

    def next_name(self, kind):
        self.counter += 1
        return f"{kind}-{self.counter}"

    # Each operation returns the CLI command to run; the suite kills kilnd while it runs.
    def op_import(self):
        return ["image", "import", self.tarball, "--name", self.next_name("imp")]

    def op_create(self):
        return ["image", "create", "src", "--name", self.next_name("img"), "--wait"]

    def op_snapshot(self):
        return ["snapshot", "create", "src", "--name", self.next_name("snap")]

    def op_pull(self):
        return ["image", "pull", self.pull_ref, "--name", self.next_name("pulled")]

    def op_gc(self):
        # Give gc something to do: drop a few images and snapshots made by earlier rounds.
        images = [i["name"] for i in self.kiln_json("image", "ls")
                  if i["name"] not in ("base", "payload")]
        for name in images[:3]:
            self.kiln("image", "rm", name)
        snaps = [s["name"] for s in self.snapshots() if s["name"] != "snap-0"]
        if snaps:
            self.kiln("snapshot", "rm", *snaps[:2])
        return ["gc"]

    def snapshots(self):
        return self.kiln_json("snapshot", "ls")

    def state(self):
        """What must survive a crash unchanged: every image's and snapshot's full record."""
        images = {i["id"]: self.kiln_json("image", "inspect", i["id"])
                  for i in self.kiln_json("image", "ls")}
        snaps = {s["id"]: s for s in self.snapshots()}
        return images, snaps

    def assert_nothing_half_done(self, mounts_before):
        images = self.kiln_json("image", "ls")
        self.assertTrue(all(i["state"] == "available" for i in images),
                        [(i["name"], i["state"]) for i in images])
        self.assertEqual(os.listdir(os.path.join(self.root, "tmp")), [])
        self.assertEqual(mounts_under(self.root), mounts_before)
        runtime = subprocess.run(["runc", "--root", os.path.join(self.root, "runtime"), "list",
                                  "-q"], capture_output=True, text=True, check=True).stdout.split()
        live = [i["id"] for i in self.kiln_json("ls")]
        self.assertEqual(sorted(runtime), sorted(live))
        src = self.kiln_json("inspect", "src")
        self.assertEqual(src["state"], "running")
        r = self.kiln("image", "verify", ok=None)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_kill9_at_many_points_loses_nothing(self):
        ops = {"import": self.op_import, "create": self.op_create,
               "snapshot": self.op_snapshot, "pull": self.op_pull, "gc": self.op_gc}
        # How long each operation takes when left alone: the kill lands anywhere inside it.
        duration = {}
        for kind, op in ops.items():
            t = time.monotonic()
            self.kiln(*op())
            duration[kind] = time.monotonic() - t
        mounts_before = mounts_under(self.root)
        blobs_before = set(os.listdir(os.path.join(self.root, "blobs", "sha256")))
        outcome = collections.Counter()
        deadline = time.monotonic() + 600
        for round_no in range(KILLS):
            self.assertLess(time.monotonic(), deadline, f"suite too slow: {round_no} rounds")
            kind = list(ops)[round_no % len(ops)]
            args = ops[kind]()
            before_images, before_snaps = self.state()
            client = subprocess.Popen([KILN, "--socket", self.socket, *args],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(self.rng.uniform(0.0, duration[kind] * 1.1))
            self.daemon.kill9()
            out, err = client.communicate(timeout=60)
            outcome[(kind, "interrupted" if client.returncode else "finished")] += 1
            self.daemon.start()
            with self.subTest(round=round_no, op=" ".join(args)):
                after_images, after_snaps = self.state()
                # Everything that was there is there, unchanged; gc removes only what was removed.
                for iid, rec in before_images.items():
                    self.assertEqual(after_images.get(iid), rec, f"image {rec['name']} changed")
                for sid, rec in before_snaps.items():
                    self.assertEqual(after_snaps.get(sid), rec, f"snapshot {rec['name']} changed")
                # What finished is kept; what was cut off left nothing.
                new_name = args[args.index("--name") + 1] if "--name" in args else None
                if new_name and client.returncode == 0:
                    names = ({i["name"] for i in after_images.values()} if kind != "snapshot"
                             else {s["name"] for s in after_snaps.values()})
                    self.assertIn(new_name, names, out + err)
                self.assert_nothing_half_done(mounts_before)
            # Keep the store small so verify stays quick: drop what this round added.
            extra = [i["name"] for i in self.kiln_json("image", "ls")
                     if i["name"] not in ("base", "payload")]
            if len(extra) > 4:
                self.kiln("image", "rm", *extra[:-2])
        print(f"\ncrash suite: {KILLS} kills, {dict(outcome)}, durations "
              f"{ {k: round(v, 2) for k, v in duration.items()} }")
        # Every kind of operation was really cut off at least once.
        for kind in ops:
            self.assertGreater(outcome[(kind, "interrupted")], 0, f"no {kind} was interrupted")
        # The instance's data and the first snapshot survived every crash.
        self.assertEqual(self.instance_sum(), self.change_sum)
        self.kiln("exec", "src", "--", "rm", "/root/change")
        self.kiln("snapshot", "restore", "src", "snap-0")
        self.assertEqual(self.instance_sum(), self.change_sum)
        # No leak: once the suite's own images and snapshots are gone, the store holds exactly
        # what it held before the first kill.
        extra = [i["name"] for i in self.kiln_json("image", "ls")
                 if i["name"] not in ("base", "payload")]
        if extra:
            self.kiln("image", "rm", *extra)
        snaps = [s["name"] for s in self.snapshots() if s["name"] != "snap-0"]
        if snaps:
            self.kiln("snapshot", "rm", *snaps)
        # The warm-up round's images and snapshot were in the store before the first kill.
        self.kiln("gc")
        self.assertLessEqual(set(os.listdir(os.path.join(self.root, "blobs", "sha256"))),
                             blobs_before)
        self.assertEqual(os.listdir(os.path.join(self.root, "partial")), [])
