"""Instances: launch from an image, exec, lifecycle, limits, re-adoption, and bad input."""
import json
import os
import subprocess
import time

from kiln_harness import KILN, KilnTestCase, make_busybox_rootfs, mounts_under, require_tool


def cgroup_dirs(instance_id):
    """Every cgroup directory the host has for the instance (v1 controllers or v2)."""
    out = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        if os.path.basename(dirpath) == instance_id:
            out.append(dirpath)
            dirnames[:] = []
    return out


def memory_limit_file(instance_id):
    for path in [f"/sys/fs/cgroup/memory/kiln/{instance_id}/memory.limit_in_bytes",
                 f"/sys/fs/cgroup/kiln/{instance_id}/memory.max"]:
        if os.path.exists(path):
            return path
    raise AssertionError(f"no memory cgroup for {instance_id}: {cgroup_dirs(instance_id)}")


class InstancesTest(KilnTestCase):

    def setUp(self):
        require_tool("runc")
        super().setUp()
        self.kiln("image", "import", make_busybox_rootfs(self.path("rootfs")), "--name", "bb")

    def launch(self, *args):
        out = self.kiln("launch", "bb", *args).stdout.split()
        for i in out:
            self.assertRegex(i, r"^i-[0-9a-f]{17}$")
        return out

    def exec(self, name, *cmd, ok=True, input=None):
        extra = ["-i"] if input is not None else []
        return self.kiln("exec", *extra, name, "--", *cmd, ok=ok, input=input)

    def test_launch_exec_and_isolation(self):
        (iid,) = self.launch("--name", "web", "--type", "nano", "-e", "GREETING=hi")
        info = self.kiln_json("inspect", "web")
        self.assertEqual(info["id"], iid)
        self.assertEqual(info["state"], "running")
        self.assertEqual(info["image"], "bb")
        self.assertEqual(info["limits"]["memory_bytes"], 256 << 20)
        self.assertEqual(self.exec("web", "hostname").stdout.strip(), "web")
        self.assertEqual(self.exec("web", "sh", "-c", "echo $GREETING").stdout.strip(), "hi")
        # Exit codes and both output streams come back as they were.
        r = self.exec("web", "sh", "-c", "echo out; echo err >&2; exit 7", ok=None)
        self.assertEqual(r.returncode, 7)
        self.assertEqual(r.stdout, "out\n")
        self.assertEqual(r.stderr, "err\n")
        # stdin with -i.
        self.assertEqual(self.exec("web", "cat", input="piped\n").stdout, "piped\n")
        # pid namespace: PID 1 is kiln-init and only the instance's processes are visible.
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        ps = self.exec("web", "ps", "-o", "pid,args").stdout.splitlines()[1:]
        self.assertIn("/.kiln/init", ps[0])
        self.assertLess(len(ps), 6, ps)
        self.assertGreater(len(pids), 6)
        # The default seccomp profile filters syscalls (mode 2), with the default capabilities.
        status = self.exec("web", "cat", "/proc/self/status").stdout
        self.assertRegex(status, r"Seccomp:\s+2")
        self.assertRegex(status, r"CapEff:\s+00000000a80425fb")
        # Limits are applied through the cgroup.
        with open(memory_limit_file(iid)) as f:
            self.assertEqual(int(f.read().strip()), 256 << 20)
        # Memory limit violations are visible: a process that outgrows the 256 MiB is OOM-killed,
        # and inspect counts it.
        usage = self.kiln_json("inspect", "web")["usage"]
        self.assertGreater(usage["memory_bytes"], 0)
        self.assertGreater(usage["pids"], 0)
        self.assertEqual(usage["oom_kills"], 0)
        r = self.exec("web", "dd", "if=/dev/zero", "of=/dev/null", "bs=400M", "count=1", ok=None)
        self.assertEqual(r.returncode, 137, r.stderr)
        usage = self.kiln_json("inspect", "web")["usage"]
        self.assertGreaterEqual(usage["oom_kills"], 1)
        self.assertIn("OOM kills 1", self.kiln("inspect", "web").stdout)
        # No host paths: besides kernel filesystems, only kiln's own per-instance files are bound.
        virtual = {"proc", "tmpfs", "devpts", "mqueue", "sysfs", "cgroup", "cgroup2", "overlay"}
        binds = set()
        for line in self.exec("web", "cat", "/proc/self/mountinfo").stdout.splitlines():
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype not in virtual:
                binds.add(fields[4])
        self.assertLessEqual(binds, {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/.kiln/user-data",
                                     "/.kiln/init"})
        root = self.exec("web", "cat", "/proc/self/mountinfo").stdout.splitlines()[0].split()
        self.assertEqual((root[4], root[root.index("-") + 1]), ("/", "overlay"))

    def test_stop_start_keeps_files_and_user_data_runs_once(self):
        with open(self.path("ud.sh"), "w") as f:
            f.write("echo user-data-ran >> /root/ud.log\n")
        self.launch("--name", "box", "--user-data", self.path("ud.sh"))
        for _ in range(50):
            if "user-data-ran" in self.exec("box", "sh", "-c", "cat /root/ud.log 2>/dev/null", ok=None).stdout:
                break
            time.sleep(0.1)
        self.exec("box", "sh", "-c", "echo precious > /root/data")
        self.assertEqual(self.kiln_json("stop", "box")["state"], "stopped")
        r = self.exec("box", "true", ok=False)
        self.assertEqual(r.returncode, 4)
        self.assertIn("not running", r.stderr)
        self.assertEqual(self.kiln_json("start", "box")["state"], "running")
        self.assertEqual(self.exec("box", "cat", "/root/data").stdout, "precious\n")
        self.kiln("reboot", "box")
        time.sleep(0.3)
        self.assertEqual(self.exec("box", "cat", "/root/ud.log").stdout, "user-data-ran\n")
        self.assertEqual(self.kiln("logs", "box").stdout.count("running user-data"), 1)

    def test_count_and_terminate_leaves_nothing(self):
        ids = self.launch("--count", "10", "--name", "web-{n}")
        self.assertEqual(len(ids), 10)
        names = [i["name"] for i in self.kiln_json("ls")]
        self.assertEqual(names, [f"web-{n}" for n in range(1, 11)])
        for i, iid in enumerate(ids, 1):
            self.assertEqual(self.exec(f"web-{i}", "hostname").stdout.strip(), f"web-{i}")
        r = self.kiln("rm", "web-1", ok=False)
        self.assertEqual(r.returncode, 4)
        self.assertIn("--force", r.stderr)
        self.kiln("stop", "web-1")
        self.kiln("rm", "web-1")
        self.kiln("rm", "-f", *[f"web-{n}" for n in range(2, 11)])
        self.assertEqual(self.kiln_json("ls"), [])
        terminated = self.kiln_json("ls", "--all")
        self.assertEqual({i["state"] for i in terminated}, {"terminated"})
        for iid in ids:
            self.assertEqual(cgroup_dirs(iid), [])
            self.assertFalse(os.path.exists(os.path.join(self.root, "instances", iid)))
        self.assertEqual(mounts_under(os.path.join(self.root, "instances")), [])
        self.assertEqual(os.listdir(os.path.join(self.root, "runtime")), [])
        # The name is free again once its instance is terminated.
        self.launch("--name", "web-1")

    def wait_for_empty_trash(self, timeout=60):
        trash = os.path.join(self.root, "trash")
        deadline = time.time() + timeout
        while os.listdir(trash) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(os.listdir(trash), [])

    def test_terminated_files_are_deleted_in_the_background_and_after_a_crash(self):
        (iid,) = self.launch("--name", "big")
        self.exec("big", "sh", "-c", "mkdir /root/many && cd /root/many && "
                  "for i in $(seq 3000); do echo $i > f$i; done")
        self.kiln("rm", "-f", "big")
        # Gone from the instances at once; its files leave the trash soon after.
        self.assertFalse(os.path.exists(os.path.join(self.root, "instances", iid)))
        self.wait_for_empty_trash()
        # What a crash left in the trash is deleted after the next start.
        self.daemon.kill9()
        left = os.path.join(self.root, "trash", "t-left-by-crash", "deep", "er")
        os.makedirs(left)
        for i in range(500):
            with open(os.path.join(left, f"f{i}"), "w") as f:
                f.write("x")
        self.daemon.start()
        self.wait_for_empty_trash()
        self.assertIn("left behind", self.daemon.read_log())

    def test_kill9_of_kilnd_keeps_instances_running(self):
        (iid,) = self.launch("--name", "survivor")
        self.exec("survivor", "sh", "-c", "echo before > /root/f")
        runtime = ["runc", "--root", os.path.join(self.root, "runtime")]
        state = json.loads(subprocess.run(runtime + ["state", iid], capture_output=True,
                                          text=True, check=True).stdout)
        self.daemon.kill9()
        os.kill(state["pid"], 0)  # still alive without kilnd
        self.daemon.start()
        self.assertEqual(self.kiln_json("inspect", "survivor")["state"], "running")
        self.assertEqual(self.exec("survivor", "cat", "/root/f").stdout, "before\n")
        # An instance that died while kilnd was down is stopped after the restart, files kept.
        self.daemon.kill9()
        subprocess.run(runtime + ["kill", iid, "KILL"], check=True)
        time.sleep(0.3)
        self.daemon.start()
        info = self.kiln_json("inspect", "survivor")
        self.assertEqual(info["state"], "stopped")
        self.assertIn("kilnd was down", info["state_reason"])
        self.assertEqual(mounts_under(os.path.join(self.root, "instances")), [])
        self.kiln("start", "survivor")
        self.assertEqual(self.exec("survivor", "cat", "/root/f").stdout, "before\n")

    def test_bad_input_changes_nothing(self):
        self.launch("--name", "taken")
        before = self.kiln_json("ls", "--all")
        cases = [
            (["launch", "nope"], 3, "no image"),
            (["launch", "bb", "--name", "taken"], 4, "already exists"),
            (["launch", "bb", "--name", "bad/name"], 2, "invalid instance name"),
            (["launch", "bb", "--type", "huge"], 2, "unknown instance type"),
            (["launch", "bb", "--count", "0"], 2, "--count"),
            (["launch", "bb", "--count", "2", "--name", "same"], 2, "{n}"),
            (["launch", "bb", "--count", "2", "--name", "taken{n}x", "-e", "NOEQUALS"], 2, "KEY=VALUE"),
            (["exec", "ghost", "--", "true"], 3, "no instance"),
            (["stop", "ghost"], 3, "no instance"),
            (["image", "rm", "bb"], 4, "used by 1 instance"),
        ]
        for args, code, word in cases:
            with self.subTest(args):
                self.assert_fails_cleanly(args, code, [word])
        self.assertEqual(self.kiln_json("ls", "--all"), before)
        self.assertEqual(len(os.listdir(os.path.join(self.root, "instances"))), 1)


class DeepStackTest(KilnTestCase):
    """Images whose layer stack is longer than one overlay mount's option page still launch."""

    def test_two_hundred_layers(self):
        require_tool("runc")
        import hashlib
        import io
        import tarfile

        def tar(entries):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
                for name, data in entries:
                    info = tarfile.TarInfo(name)
                    if data is None:
                        info.type, info.mode = tarfile.DIRTYPE, 0o755
                        t.addfile(info)
                    else:
                        info.size = len(data)
                        t.addfile(info, io.BytesIO(data))
            return buf.getvalue()

        def sha(b):
            return "sha256:" + hashlib.sha256(b).hexdigest()

        base = make_busybox_rootfs(self.path("rootfs"))
        # The base layer by `tar` itself (links and binaries), then 199 tiny ones.
        subprocess.run(["tar", "-C", base, "-cf", self.path("base.tar"), "."], check=True)
        with open(self.path("base.tar"), "rb") as f:
            layers = [f.read()]
        for i in range(1, 200):
            layers.append(tar([("layers", None), (f"layers/{i:03d}", str(i).encode())]))
        cfg = json.dumps({"architecture": "amd64", "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": [sha(l) for l in layers]}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg),
                       "size": len(cfg)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(l),
                        "size": len(l)} for l in layers]}).encode()
        index = json.dumps({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
            "size": len(manifest)}]}).encode()
        lay = self.path("deep")
        os.makedirs(os.path.join(lay, "blobs", "sha256"))
        for blob in layers + [cfg, manifest]:
            with open(os.path.join(lay, "blobs", "sha256", sha(blob)[7:]), "wb") as f:
                f.write(blob)
        with open(os.path.join(lay, "index.json"), "wb") as f:
            f.write(index)
        with open(os.path.join(lay, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        self.kiln("image", "import", lay, "--name", "deep")
        self.assertEqual(len(self.kiln_json("image", "inspect", "deep")["layers"]), 200)
        self.kiln("launch", "deep", "--name", "deep1")
        files = self.kiln("exec", "deep1", "--", "ls", "/layers").stdout.split()
        self.assertEqual(len(files), 199)
        self.assertEqual(self.kiln("exec", "deep1", "--", "cat", "/layers/150").stdout, "150")


class ImageProcessTest(KilnTestCase):
    """An image's own Entrypoint/Cmd, Env, WorkingDir and User run instead of kiln-init."""

    def test_entrypoint_cmd_env_workdir_user(self):
        require_tool("runc")
        import hashlib

        def sha(b):
            return "sha256:" + hashlib.sha256(b).hexdigest()

        base = make_busybox_rootfs(self.path("rootfs"))
        os.makedirs(os.path.join(base, "srv", "app"))
        os.chmod(os.path.join(base, "srv", "app"), 0o777)
        subprocess.run(["tar", "-C", base, "-cf", self.path("l.tar"), "."], check=True)
        with open(self.path("l.tar"), "rb") as f:
            layer = f.read()
        cfg = json.dumps({"architecture": "amd64", "os": "linux",
                          "config": {"Entrypoint": ["/bin/sh", "-c"],
                                     "Cmd": ["echo $GREETING $(id -u) $(pwd) > /tmp/started; exec sleep 1000"],
                                     "Env": ["PATH=/bin", "GREETING=from-cmd"],
                                     "WorkingDir": "/srv/app", "User": "1000:1000"},
                          "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer),
                        "size": len(layer)}]}).encode()
        lay = self.path("app")
        os.makedirs(os.path.join(lay, "blobs", "sha256"))
        for blob in [layer, cfg, manifest]:
            with open(os.path.join(lay, "blobs", "sha256", sha(blob)[7:]), "wb") as f:
                f.write(blob)
        with open(os.path.join(lay, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
                "size": len(manifest)}]}, f)
        with open(os.path.join(lay, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        self.kiln("image", "import", lay, "--name", "app")
        self.kiln("launch", "app", "--name", "svc")
        for _ in range(50):
            r = self.kiln("exec", "svc", "--", "cat", "/tmp/started", ok=None)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        self.assertEqual(r.stdout, "from-cmd 1000 /srv/app\n")
        ps = self.kiln("exec", "svc", "--", "ps", "-o", "pid,args").stdout
        self.assertIn("1 sleep 1000", " ".join(ps.split()))
        # exec's own -w and -u.
        self.assertEqual(self.kiln("exec", "-w", "/tmp", "-u", "0:0", "svc", "--", "sh", "-c",
                                   "pwd; id -u").stdout, "/tmp\n0\n")
