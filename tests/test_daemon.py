"""kilnd's process contract and the CLI's: socket, lock, signals, help, exit codes, --json."""
import os
import signal
import stat
import subprocess
import time

from kiln_harness import KILN, KILND, Daemon, KilnTestCase, make_busybox_rootfs


class DaemonTest(KilnTestCase):

    def test_socket_mode_and_version(self):
        mode = stat.S_IMODE(os.stat(self.socket).st_mode)
        self.assertEqual(mode, 0o660)
        self.assertTrue(stat.S_ISSOCK(os.stat(self.socket).st_mode))
        v = self.kiln_json("version")
        self.assertEqual(v["client"], v["daemon"])

    def test_second_daemon_on_same_root_is_refused(self):
        other = Daemon(self.root, self.path("other.sock"))
        proc = other.start(expect_ok=False)
        self.assertNotEqual(proc.wait(timeout=10), 0)
        self.assertIn("in use by another kilnd", other.read_log())
        self.assertIn(str(self.daemon.proc.pid), other.read_log())
        # The first one still serves.
        self.kiln("image", "ls")

    def test_sigterm_and_sigint_stop_cleanly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            start = time.time()
            self.daemon.proc.send_signal(sig)
            self.assertEqual(self.daemon.proc.wait(timeout=10), 0)
            self.assertLess(time.time() - start, 5)
            self.assertFalse(os.path.exists(self.socket))
            self.assertIn("stopped", self.daemon.read_log())
            self.daemon.start()

    def test_unreachable_daemon_is_one_clear_line(self):
        r = subprocess.run([KILN, "--socket", self.path("nope.sock"), "image", "ls"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        self.assertIn("cannot reach kilnd", r.stderr)
        env = dict(os.environ, KILN_SOCKET=self.socket)
        r = subprocess.run([KILN, "image", "ls"], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_help_is_complete(self):
        r = subprocess.run([KILN, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        for word in ["image", "gc", "--json", "--socket", "Exit codes"]:
            self.assertIn(word, r.stdout)
        r = subprocess.run([KILN, "image", "--help"], capture_output=True, text=True)
        for verb in ["import", "ls", "inspect", "tag", "rm", "verify", "export"]:
            self.assertIn(verb, r.stdout)
        r = subprocess.run([KILN, "image", "import", "--help"], capture_output=True, text=True)
        for opt in ["--name", "--description", "--ref", "--tag", "OCI", "docker"]:
            self.assertIn(opt, r.stdout)
        r = subprocess.run([KILN, "image", "export", "--help"], capture_output=True, text=True)
        for opt in ["--output", "--format", "--ref"]:
            self.assertIn(opt, r.stdout)
        r = subprocess.run([KILND, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        for opt in ["--root", "--socket", "/var/lib/kiln", "/run/kiln/kiln.sock"]:
            self.assertIn(opt, r.stdout)
        r = subprocess.run([KILN, "image", "frobnicate"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)

    def test_json_and_table_output(self):
        self.kiln("image", "import", make_busybox_rootfs(self.path("r")), "--name", "bb",
                  "--description", "tiny")
        images = self.kiln_json("image", "ls")
        self.assertEqual([i["name"] for i in images], ["bb"])
        self.assertEqual(images[0]["state"], "available")
        table = self.kiln("image", "ls").stdout.splitlines()
        self.assertEqual(table[0].split()[:3], ["ID", "NAME", "STATE"])
        self.assertIn("tiny", table[1])
        text = self.kiln("image", "inspect", "bb").stdout
        for word in ["Layers:", "sha256:", "Manifest:", "linux/"]:
            self.assertIn(word, text)
        # No progress bar noise when stderr is not a terminal.
        r = self.kiln("image", "export", "bb", "-o", self.path("bb.tar"))
        self.assertNotIn("\r", r.stderr)

    def test_progress_bar_on_a_terminal(self):
        # script(1) gives kiln a pty, as a person's terminal would.
        big = self.path("big")
        os.makedirs(big)
        with open(os.path.join(big, "data"), "wb") as f:
            f.write(os.urandom(64 << 20))
        subprocess.run(["tar", "-C", big, "-cf", self.path("big.tar"), "."], check=True)
        cmd = f"{KILN} --socket {self.socket} image import {self.path('big.tar')} --name big"
        r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("import big.tar", r.stdout)
        self.assertIn("%", r.stdout)
