"""Snapshots: back up an instance, restore any snapshot exactly, turn one into an image."""
import os
import subprocess

from kiln_harness import comparable_tree, KilnTestCase, make_busybox_rootfs, mounts_under, require_tool, tree_manifest

comparable = comparable_tree


class SnapshotTest(KilnTestCase):

    def setUp(self):
        require_tool("runc")
        super().setUp()
        base = make_busybox_rootfs(self.path("rootfs"))
        with open(os.path.join(base, "etc", "base-file"), "w") as f:
            f.write("from the image")
        self.kiln("image", "import", base, "--name", "base")
        self.iid = self.kiln("launch", "base", "--name", "db").stdout.strip()
        self.rootfs = os.path.join(self.root, "instances", self.iid, "rootfs")

    def sh(self, script):
        return self.kiln("exec", "db", "--", "sh", "-c", script).stdout

    def test_restore_any_snapshot_exactly_and_keep_the_others(self):
        self.sh("echo v1 > /root/state; mkdir -p /srv/a; echo x > /srv/a/x")
        v1_tree = comparable(tree_manifest(self.rootfs))
        self.assertIn("srv/a/x", v1_tree)
        self.assertIn("bin/busybox", v1_tree)
        snap1 = self.kiln("snapshot", "create", "db", "--name", "v1").stdout.strip()
        self.assertRegex(snap1, r"^snap-[0-9a-f]{17}$")
        self.sh("echo v2 > /root/state; rm -rf /srv/a; rm /etc/base-file; echo new > /root/added")
        v2_tree = comparable(tree_manifest(self.rootfs))
        snap2 = self.kiln("snapshot", "create", "db", "--stop").stdout.strip()
        self.sh("echo broken > /root/state; rm -rf /root /bin/ls")
        listed = self.kiln_json("snapshot", "ls", "db")
        self.assertEqual([s["id"] for s in listed], [snap1, snap2])
        self.assertEqual(listed[0]["name"], "v1")

        # Restore the older one first, then the newer: both still there, each exact.
        r = self.kiln_json("snapshot", "restore", "db", "v1")
        self.assertEqual((r["id"], r["name"], r["state"]), (self.iid, "db", "running"))
        self.assertEqual(comparable(tree_manifest(self.rootfs)), v1_tree)
        self.assertEqual(self.sh("cat /root/state; cat /etc/base-file"), "v1\nfrom the image")
        self.kiln("snapshot", "restore", "db", snap2)
        self.assertEqual(comparable(tree_manifest(self.rootfs)), v2_tree)
        self.assertFalse(os.path.exists(os.path.join(self.rootfs, "etc", "base-file")))
        self.assertEqual(len(self.kiln_json("snapshot", "ls")), 2)
        info = self.kiln_json("inspect", "db")
        self.assertEqual((info["id"], info["type"]), (self.iid, "small"))
        # A stopped instance restores and stays stopped.
        self.kiln("stop", "db")
        self.kiln("snapshot", "restore", "db", "v1")
        self.assertEqual(self.kiln_json("inspect", "db")["state"], "stopped")
        self.kiln("start", "db")
        self.assertEqual(self.sh("cat /root/state"), "v1\n")

    def test_image_from_snapshot_and_cleanup(self):
        self.sh("echo configured > /root/conf")
        self.kiln("snapshot", "create", "db", "--name", "golden")
        self.sh("rm /root/conf")
        self.kiln("image", "create", "--from-snapshot", "golden", "--name", "golden-img")
        info = self.kiln_json("image", "inspect", "golden-img")
        self.assertEqual(info["state"], "available")
        self.assertEqual(len(info["layers"]), 2)
        self.kiln("launch", "golden-img", "--name", "clone")
        self.assertEqual(self.kiln("exec", "clone", "--", "cat", "/root/conf").stdout, "configured\n")
        # Snapshot blobs survive gc while referenced, and go once nothing refers to them.
        self.kiln("gc")
        self.assertIn("ok", self.kiln("image", "verify").stdout)
        self.kiln("snapshot", "rm", "golden")
        self.assertEqual(self.kiln_json("snapshot", "ls"), [])
        self.assertIn("ok", self.kiln("image", "verify").stdout)  # the image still has its layer

    def test_bad_input(self):
        other = self.kiln("launch", "base", "--name", "other").stdout.strip()
        self.kiln("snapshot", "create", "other", "--name", "others")
        before = self.kiln_json("snapshot", "ls")
        self.assert_fails_cleanly(["snapshot", "create", "ghost"], 3, ["no instance"])
        self.assert_fails_cleanly(["snapshot", "create", "db", "--name", "others"], 4, ["already exists"])
        self.assert_fails_cleanly(["snapshot", "create", "db", "--name", "bad/name"], 2, ["invalid"])
        self.assert_fails_cleanly(["snapshot", "restore", "db", "others"], 4, ["belongs to instance"])
        self.assert_fails_cleanly(["snapshot", "restore", "db", "nope"], 3, ["no snapshot"])
        self.assert_fails_cleanly(["snapshot", "rm", "nope"], 3, ["no snapshot"])
        self.assertEqual(self.kiln_json("snapshot", "ls"), before)
        self.assertEqual(self.kiln_json("inspect", "db")["state"], "running")
        self.kiln("rm", "-f", other)
        self.assert_fails_cleanly(["snapshot", "restore", other, "others"], 4, ["terminated"])
