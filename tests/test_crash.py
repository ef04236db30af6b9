"""kill -9 of kilnd in the middle of an import loses nothing and leaves nothing behind."""
import os
import random
import subprocess
import time

from kiln_harness import KILN, KilnTestCase, make_busybox_rootfs


class CrashTest(KilnTestCase):

    def test_kill9_during_import_then_restart(self):
        self.kiln("image", "import", make_busybox_rootfs(self.path("r")), "--name", "keep")
        keep = self.kiln_json("image", "inspect", "keep")
        big = self.path("big")
        os.makedirs(big)
        for i in range(4):
            with open(os.path.join(big, f"f{i}"), "wb") as f:
                f.write(os.urandom(48 << 20))
        subprocess.run(["tar", "-C", big, "-czf", self.path("big.tgz"), "--", "."], check=True)
        rng = random.Random(7)
        interrupted = 0
        for attempt in range(6):
            client = subprocess.Popen([KILN, "--socket", self.socket, "image", "import",
                                       self.path("big.tgz"), "--name", f"big{attempt}"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.05, 1.2))
            self.daemon.kill9()
            client.communicate(timeout=60)
            if client.returncode != 0:
                interrupted += 1
            self.daemon.start()
            images = self.kiln_json("image", "ls")
            names = {i["name"] for i in images}
            self.assertIn("keep", names)
            self.assertTrue(all(i["state"] == "available" for i in images), images)
            if client.returncode != 0:
                self.assertNotIn(f"big{attempt}", names)
            self.assertEqual(os.listdir(os.path.join(self.root, "tmp")), [])
            self.assertIn("ok", self.kiln("image", "verify").stdout)
            # Every stored blob belongs to a listed image: no orphans after recovery.
            referenced = set()
            for i in images:
                info = self.kiln_json("image", "inspect", i["name"])
                referenced |= {info["manifest_digest"], info["config_digest"]}
                referenced |= {l["digest"] for l in info["layers"]}
            stored = {"sha256:" + b for b in os.listdir(os.path.join(self.root, "blobs", "sha256"))}
            self.assertEqual(stored, referenced)
        self.assertGreater(interrupted, 0, "no import was actually interrupted")
        self.assertEqual(self.kiln_json("image", "inspect", "keep"), keep)

    def test_verify_reports_corruption_at_rest(self):
        self.kiln("image", "import", make_busybox_rootfs(self.path("r")), "--name", "victim")
        info = self.kiln_json("image", "inspect", "victim")
        layer = os.path.join(self.root, "blobs", "sha256", info["layers"][0]["digest"][7:])
        with open(layer, "r+b") as f:
            f.seek(1000)
            b = f.read(1)
            f.seek(1000)
            f.write(bytes([b[0] ^ 0xFF]))
        r = self.kiln("image", "verify", ok=False)
        self.assertEqual(r.returncode, 5)
        self.assertIn("victim", r.stderr)
        self.assertIn("does not match its digest", r.stderr)
        r = self.kiln("image", "verify", "victim", ok=False)
        self.assertEqual(r.returncode, 5)
