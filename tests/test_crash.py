"""kill -9 of kilnd in the middle of an import loses nothing and leaves nothing behind."""
import os
import random
import socket
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


class FailureModesTest(KilnTestCase):

    def test_disk_full_during_import(self):
        self.daemon.stop()
        small = self.path("small")
        os.makedirs(small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "kiln-test", small], check=True)
        self.root = os.path.join(small, "root")
        self.daemon = type(self.daemon)(self.root, self.socket)
        self.daemon.start()
        self.kiln("image", "import", make_busybox_rootfs(self.path("r")), "--name", "small")
        before = self.store_state()
        big = self.path("big")
        os.makedirs(big)
        with open(os.path.join(big, "data"), "wb") as f:
            f.write(os.urandom(40 << 20))
        subprocess.run(["tar", "-C", big, "-cf", self.path("big.tar"), "."], check=True)
        line = self.assert_fails_cleanly(["image", "import", self.path("big.tar"), "--name", "big"],
                                         1, ["No space left on device"])
        self.assertIn("import", line)
        self.assertEqual(self.store_state(), before)
        # The space came back: a small import works again, and everything verifies.
        self.kiln("image", "import", make_busybox_rootfs(self.path("r2")), "--name", "small2")
        self.assertIn("ok", self.kiln("image", "verify").stdout)

    def test_rm_refused_while_an_export_reads_the_image(self):
        big = self.path("big")
        os.makedirs(big)
        with open(os.path.join(big, "data"), "wb") as f:
            f.write(os.urandom(8 << 20))
        self.kiln("image", "import", big, "--name", "busy")
        # A slow reader: ask for the export and read only its first bytes.
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.socket)
        s.sendall(b"GET /v1/images/busy/export HTTP/1.1\r\nHost: kilnd\r\n\r\n")
        self.assertIn(b"200 OK", s.recv(4096))
        time.sleep(0.3)
        self.assert_fails_cleanly(["image", "rm", "busy"], 4, ["in use", "export"])
        s.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            r = self.kiln("image", "rm", "busy", ok=None)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        self.assertEqual(r.returncode, 0, r.stderr)
