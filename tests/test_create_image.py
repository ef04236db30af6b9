"""Creating images from instances: exact, every consistency mode, lineage, and failure handling."""
import json
import os
import struct
import subprocess
import time

from kiln_harness import (comparable_tree, KilnTestCase, make_busybox_rootfs, make_rich_tree, require_tool,
                          tree_manifest)

comparable = comparable_tree


class CreateImageTest(KilnTestCase):

    def setUp(self):
        require_tool("runc")
        super().setUp()
        base = make_busybox_rootfs(self.path("rootfs"))
        os.makedirs(os.path.join(base, "opt", "replaced", "sub"))
        for name in ["drop-me", "chmod-me", "keep-me"]:
            with open(os.path.join(base, "opt", name), "w") as f:
                f.write(name)
        with open(os.path.join(base, "opt", "replaced", "sub", "old"), "w") as f:
            f.write("old")
        self.kiln("image", "import", base, "--name", "base")

    def rootfs_of(self, name):
        iid = self.kiln_json("inspect", name)["id"]
        return os.path.join(self.root, "instances", iid, "rootfs")

    def change_everything(self, rootfs):
        """Every kind of change an instance can make, written through its overlay."""
        p = lambda *a: os.path.join(rootfs, *a)
        make_rich_tree(p("srv", "tree"))
        os.remove(p("opt", "drop-me"))
        os.chmod(p("opt", "chmod-me"), 0o600)            # metadata-only change of a lower file
        os.chown(p("opt", "chmod-me"), 42, 42)
        subprocess.run(["rm", "-rf", p("opt", "replaced")], check=True)
        os.makedirs(p("opt", "replaced"))                 # a directory replaced wholesale
        with open(p("opt", "replaced", "new"), "w") as f:
            f.write("new")
        with open(p("srv", "sparse"), "wb") as f:        # a sparse file
            f.seek(50 << 20)
            f.write(b"end")
        with open(p("srv", "capable"), "w") as f:
            f.write("#!/bin/sh\n")
        os.setxattr(p("srv", "capable"), "security.capability",
                    struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0))
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.bind(p("srv", "sock"))                         # sockets are skipped
        s.close()

    def test_created_image_reproduces_the_instance_exactly(self):
        self.kiln("launch", "base", "--name", "src")
        src = self.rootfs_of("src")
        self.change_everything(src)
        image_id = self.kiln("image", "create", "src", "--name", "derived", "--description",
                             "every change", "--tag", "role=test", "--wait").stdout.strip()
        self.assertRegex(image_id, r"^ami-[0-9a-f]{17}$")
        info = self.kiln_json("image", "inspect", "derived")
        base = self.kiln_json("image", "inspect", "base")
        self.assertEqual(info["state"], "available")
        self.assertEqual(info["parent"], base["id"])
        self.assertEqual([l["name"] for l in info["lineage"]], ["base"])
        self.assertEqual(info["layers"][:-1], base["layers"])
        self.assertEqual(info["tags"], {"role": "test"})
        self.assertGreater(info["frozen_seconds"], 0)  # frozen for the capture, and how long
        self.assertIn("kiln image create src", info["history"][-1]["created_by"])
        history = self.kiln_json("image", "history", "derived")
        self.assertEqual([(h["image"], h["layer"]) for h in history],
                         [("derived", info["layers"][1]["digest"]),
                          ("base", info["layers"][0]["digest"])])
        self.assertIn("kiln image import", history[1]["created_by"])
        self.assertIn("derived", self.kiln("image", "history", "derived").stdout)
        # The source instance was frozen and thawed: it still answers.
        self.assertEqual(self.kiln("exec", "src", "--", "echo", "alive").stdout, "alive\n")
        self.kiln("launch", "derived", "--name", "copy")
        want = comparable(tree_manifest(src))
        want.pop("srv/sock")
        got = comparable(tree_manifest(self.rootfs_of("copy")))
        self.assertEqual(got, want)
        # The 50 MB sparse file is still sparse in the copy (and was carried as such).
        copy_sparse = os.stat(os.path.join(self.rootfs_of("copy"), "srv", "sparse"))
        self.assertLess(copy_sparse.st_blocks * 512, 1 << 20)
        # Cost follows the change: the new layer holds the change (3 MB of data, and a 50 MB
        # sparse file as its few data blocks), not the base.
        new_layer = info["layers"][-1]["size"]
        self.assertLess(new_layer, 6 << 20)
        # Exported, it is an OCI image umoci unpacks to the same tree.
        require_tool("umoci")
        self.kiln("image", "export", "derived", "--format", "dir", "-o", self.path("lay"))
        subprocess.run(["umoci", "unpack", "--image", f"{self.path('lay')}:derived",
                        self.path("bundle")], check=True, capture_output=True)
        self.assertEqual(comparable(tree_manifest(self.path("bundle", "rootfs"))), want)
        insp = json.loads(subprocess.run([require_tool("skopeo"), "inspect", f"oci:{self.path('lay')}:derived"],
                                         check=True, capture_output=True, text=True).stdout)
        self.assertEqual(insp["Layers"], [l["digest"] for l in info["layers"]])

    def test_consistency_modes(self):
        self.kiln("launch", "base", "--name", "src")
        for mode in ["--stop", "--no-reboot", None]:
            with self.subTest(mode):
                name = "img" + (mode or "-freeze").replace("-", "_")
                with open(os.path.join(self.rootfs_of("src"), "root", name), "w") as f:
                    f.write(name)
                args = ["image", "create", "src", "--name", name, "--wait"] + ([mode] if mode else [])
                self.kiln(*args)
                self.assertEqual(self.kiln_json("image", "inspect", name)["state"], "available")
                self.assertEqual(self.kiln_json("inspect", "src")["state"], "running")
                self.kiln("launch", name, "--name", "c" + name)
                self.assertEqual(self.kiln("exec", "c" + name, "--", "cat", f"/root/{name}").stdout,
                                 name)
        # A stopped instance can be captured too, and stays stopped.
        self.kiln("stop", "src")
        self.kiln("image", "create", "src", "--name", "from-stopped", "--wait")
        self.assertEqual(self.kiln_json("inspect", "src")["state"], "stopped")

    def test_bad_input(self):
        self.kiln("launch", "base", "--name", "src")
        gone_id = self.kiln("launch", "base", "--name", "gone").stdout.strip()
        self.kiln("rm", "-f", "gone")
        before = self.store_state()
        self.assert_fails_cleanly(["image", "create", "ghost", "--name", "x"], 3, ["no instance"])
        self.assert_fails_cleanly(["image", "create", "src", "--name", "base"], 4, ["already exists"])
        self.assert_fails_cleanly(["image", "create", "src", "--name", "a/b"], 2, ["invalid image name"])
        self.assert_fails_cleanly(["image", "create", gone_id, "--name", "x"], 4, ["terminated"])
        self.assertEqual(self.store_state(), before)

    def test_kill9_during_capture(self):
        self.kiln("launch", "base", "--name", "src")
        with open(os.path.join(self.rootfs_of("src"), "root", "big"), "wb") as f:
            f.write(os.urandom(1 << 20) * 300)
        iid = self.kiln_json("inspect", "src")["id"]
        self.kiln("image", "create", "src", "--name", "interrupted")
        time.sleep(0.15)
        self.daemon.kill9()
        self.daemon.start()
        names = {i["name"]: i["state"] for i in self.kiln_json("image", "ls")}
        self.assertIn(names.get("interrupted"), (None, "available"))
        runtime = ["runc", "--root", os.path.join(self.root, "runtime"), "state", iid]
        self.assertIn('"running"', subprocess.run(runtime, capture_output=True, text=True).stdout)
        self.assertEqual(self.kiln("exec", "src", "--", "echo", "thawed").stdout, "thawed\n")
        self.assertIn("ok", self.kiln("image", "verify").stdout)
        self.assertEqual(os.listdir(os.path.join(self.root, "tmp")), [])

    def test_flatten_writes_one_merged_layer(self):
        self.kiln("launch", "base", "--name", "gen1")
        with open(os.path.join(self.rootfs_of("gen1"), "root", "one"), "w") as f:
            f.write("1")
        self.kiln("image", "create", "gen1", "--name", "two-layers", "--wait")
        self.kiln("launch", "two-layers", "--name", "gen2")
        src = self.rootfs_of("gen2")
        os.remove(os.path.join(src, "etc", "os-release"))
        with open(os.path.join(src, "root", "two"), "w") as f:
            f.write("2")
        want = comparable(tree_manifest(src))
        self.kiln("stop", "gen2")  # a stopped instance is mounted just for the capture
        self.kiln("image", "create", "gen2", "--name", "flat", "--flatten", "--wait")
        info = self.kiln_json("image", "inspect", "flat")
        self.assertEqual(len(info["layers"]), 1)
        self.assertEqual(info["lineage"][0]["name"], "two-layers")
        self.assertIn("flattened", info["history"][-1]["created_by"])
        self.assertEqual(self.kiln_json("inspect", "gen2")["state"], "stopped")
        self.kiln("launch", "flat", "--name", "flat1")
        self.assertEqual(comparable(tree_manifest(self.rootfs_of("flat1"))), want)

    def test_disk_full_during_capture(self):
        self.daemon.stop()
        small = self.path("small")
        os.makedirs(small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "kiln-test", small], check=True)
        self.root = os.path.join(small, "root")
        self.daemon = type(self.daemon)(self.root, self.socket)
        self.daemon.start()
        self.kiln("image", "import", make_busybox_rootfs(self.path("r2")), "--name", "tiny")
        self.kiln("launch", "tiny", "--name", "full")
        with open(os.path.join(self.rootfs_of("full"), "root", "fill"), "wb") as f:
            f.write(os.urandom(22 << 20))
        blobs_before = sorted(os.listdir(os.path.join(self.root, "blobs", "sha256")))
        r = self.kiln("image", "create", "full", "--name", "nospace", "--wait", ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("No space left on device", r.stderr)
        info = self.kiln_json("image", "inspect", "nospace")
        self.assertEqual(info["state"], "failed")
        self.assertIn("No space left on device", info["state_reason"])
        # Thawed, nothing partial: no new blob, nothing in tmp, everything verifies.
        self.assertEqual(self.kiln("exec", "full", "--", "echo", "thawed").stdout, "thawed\n")
        self.assertEqual(sorted(os.listdir(os.path.join(self.root, "blobs", "sha256"))), blobs_before)
        self.assertEqual(os.listdir(os.path.join(self.root, "tmp")), [])
        self.assertIn("ok", self.kiln("image", "verify").stdout)
        self.kiln("image", "rm", "nospace")
