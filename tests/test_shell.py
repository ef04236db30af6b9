"""kiln shell: an interactive terminal in an instance (driven through script(1)'s pty)."""
import os
import subprocess
import time

from kiln_harness import KILN, KilnTestCase, make_busybox_rootfs, require_tool


class ShellTest(KilnTestCase):

    def setUp(self):
        require_tool("runc")
        require_tool("script")
        super().setUp()
        self.kiln("image", "import", make_busybox_rootfs(self.path("rootfs")), "--name", "bb")
        self.kiln("launch", "bb", "--name", "box")

    def shell(self, feed, timeout=30):
        """Runs `kiln shell box` on a pty, typing what feed() writes; returns (rc, screen)."""
        cmd = f"{KILN} --socket {self.socket} shell box"
        p = subprocess.Popen(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        feed(p.stdin)
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace")

    def test_terminal_runs_commands_and_returns_the_exit_code(self):
        def feed(w):
            w.write(b"echo $((6*7)); hostname; tty\n")
            w.flush()
            time.sleep(0.5)
            w.write(b"exit 3\n")
            w.flush()
        rc, screen = self.shell(feed)
        self.assertEqual(rc, 3, screen)
        self.assertIn("42", screen)
        self.assertIn("box", screen)
        self.assertIn("/dev/pts/", screen)  # a real terminal inside the instance

    def test_ctrl_c_reaches_the_instance_process(self):
        def feed(w):
            w.write(b"sleep 60; echo not-interrupted\n")
            w.flush()
            time.sleep(1)
            w.write(b"\x03")
            w.flush()
            time.sleep(0.5)
            w.write(b"echo after-interrupt\nexit 0\n")
            w.flush()
        start = time.time()
        rc, screen = self.shell(feed)
        self.assertLess(time.time() - start, 20)
        self.assertEqual(rc, 0, screen)
        self.assertIn("after-interrupt", screen)
        # The echo never ran: only the typed command line mentions it.
        self.assertNotIn("\nnot-interrupted", screen)

    def test_stopped_or_unknown_instance(self):
        r = subprocess.run([KILN, "--socket", self.socket, "shell", "ghost"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 3)
        self.assertIn("no instance", r.stderr)
        self.kiln("stop", "box")
        r = subprocess.run([KILN, "--socket", self.socket, "shell", "box"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 4)
        self.assertIn("not running", r.stderr)
