"""kiln cp between the host and an instance: files and trees both ways, modes kept, no escapes."""
import os
import stat
import threading

from kiln_harness import KilnTestCase, make_busybox_rootfs, make_rich_tree, require_tool, tree_manifest


class CpTest(KilnTestCase):

    def setUp(self):
        require_tool("runc")
        super().setUp()
        self.kiln("image", "import", make_busybox_rootfs(self.path("rootfs")), "--name", "bb")
        self.iid = self.kiln("launch", "bb", "--name", "box").stdout.strip()

    def sh(self, script, ok=True):
        return self.kiln("exec", "box", "--", "sh", "-c", script, ok=ok)

    def test_files_and_trees_both_ways(self):
        with open(self.path("setup.sh"), "w") as f:
            f.write("echo configured\n")
        os.chmod(self.path("setup.sh"), 0o750)
        self.kiln("cp", self.path("setup.sh"), "box:/root/")
        self.assertEqual(self.sh("sh /root/setup.sh").stdout, "configured\n")
        self.assertIn("-rwxr-x---", self.sh("ls -l /root/setup.sh").stdout)
        self.kiln("cp", self.path("setup.sh"), "box:/root/renamed.sh")
        self.assertEqual(self.sh("cat /root/renamed.sh").stdout, "echo configured\n")
        tree = make_rich_tree(self.path("tree"))
        self.kiln("cp", tree, "box:/srv")
        self.kiln("cp", "box:/srv", self.path("back"))  # no /srv before: it became the copy
        self.assertEqual(tree_manifest(self.path("back")), tree_manifest(tree))
        os.makedirs(self.path("into"))
        self.kiln("cp", "box:/etc/os-release", self.path("into"))
        with open(self.path("into", "os-release")) as f:
            self.assertIn("kiln test busybox", f.read())

    def test_dotdot_lookups_survive_renames_elsewhere_on_the_host(self):
        # The kernel answers EAGAIN to a RESOLVE_IN_ROOT lookup through ".." whenever any rename
        # on the host races it; kiln must retry, not fail the copy.
        self.sh("ln -s ../../../../../.. /root/up")
        stop = threading.Event()
        a, b = self.path("ping"), self.path("pong")
        open(a, "w").close()

        def churn():
            while not stop.is_set():
                os.rename(a, b)
                os.rename(b, a)
        t = threading.Thread(target=churn)
        t.start()
        try:
            for i in range(40):
                self.kiln("cp", "box:/root/up/etc/os-release", self.path(f"got{i}"))
        finally:
            stop.set()
            t.join()

    def test_instance_symlinks_do_not_lead_out(self):
        secret = self.path("host-secret")
        with open(secret, "w") as f:
            f.write("host only")
        self.sh(f"ln -s {secret} /root/evil-file; ln -s {self.tmp} /root/evil-dir; "
                "ln -s ../../../../../.. /root/up")
        # Reading through them reads the instance's own files (or nothing), never the host's.
        r = self.kiln("cp", "box:/root/evil-dir/host-secret", self.path("got"), ok=False)
        self.assertIn("No such file", r.stderr)
        self.kiln("cp", "box:/root/up/etc/os-release", self.path("got2"))
        with open(self.path("got2")) as f:
            self.assertIn("kiln test busybox", f.read())
        # Writing through them lands inside the instance.
        with open(self.path("payload"), "w") as f:
            f.write("x")
        self.kiln("cp", self.path("payload"), "box:/root/up/tmp/")
        self.assertEqual(self.sh("cat /tmp/payload").stdout, "x")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "payload-outside")))
        with open(secret) as f:
            self.assertEqual(f.read(), "host only")
        self.kiln("cp", self.path("payload"), f"box:/root/evil-dir/")
        self.assertEqual(sorted(os.listdir(self.tmp)).count("payload"), 1)  # only ours, unchanged

    def test_bad_input(self):
        self.assert_fails_cleanly(["cp", self.path("nope"), "box:/root/"], 3, ["nope"])
        self.assert_fails_cleanly(["cp", "box:/no/such", self.path("x")], 3, ["No such file"])
        self.assert_fails_cleanly(["cp", "ghost:/etc/hosts", self.path("x")], 3, ["no instance"])
        self.assert_fails_cleanly(["cp", self.path("a"), self.path("b")], 2, ["INSTANCE:PATH"])
        self.kiln("stop", "box")
        self.assert_fails_cleanly(["cp", "box:/etc/os-release", self.path("x")], 4, ["not running"])
        self.assertFalse(os.path.exists(self.path("x")))
