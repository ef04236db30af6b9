"""Networking: instances on kilnd's bridge reach each other (by address and by name) and the host,
`none` has loopback only, and launches and terminations leave no device behind. Traffic goes only
to the test's own instances."""
import ipaddress
import json
import os
import random
import subprocess
import time
import urllib.request

import socket
import sys

from kiln_harness import free_port, KilnTestCase, make_busybox_rootfs, require_tool


def port_in_use(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True


def http_get(port, timeout=10):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as r:
        return r.read()


def kiln_devices(ids):
    """Namespaces and veths on the host that belong to these instances."""
    found = []
    for iid in ids:
        if os.path.exists(f"/run/netns/kiln-{iid}"):
            found.append(f"netns kiln-{iid}")
        veth = "kv" + iid[2:14]
        if os.path.exists(f"/sys/class/net/{veth}"):
            found.append(f"veth {veth}")
    return found


class NetworkTest(KilnTestCase):

    def setUp(self):
        require_tool("runc")
        require_tool("ip")
        super().setUp()
        self.kiln("image", "import", make_busybox_rootfs(self.path("rootfs")), "--name", "bb")

    def serve(self, name, port, text):
        self.kiln("exec", name, "--", "sh", "-c",
                  f"mkdir -p /www && echo {text} > /www/index.html && busybox httpd -p {port} -h /www")

    def test_instances_reach_each_other_and_the_host(self):
        self.kiln("launch", "bb", "--count", "2", "--name", "n-{n}", "--type", "nano")
        a, b = self.kiln_json("inspect", "n-1"), self.kiln_json("inspect", "n-2")
        self.assertEqual((a["network"], b["network"]), ("bridge", "bridge"))
        self.assertNotEqual(a["private_ip"], b["private_ip"])
        self.serve("n-2", 8080, "hello-from-n-2")
        for target in (b["private_ip"], "n-2"):  # by address and by name
            out = self.kiln("exec", "n-1", "--", "busybox", "wget", "-qO-", f"http://{target}:8080/").stdout
            self.assertEqual(out, "hello-from-n-2\n")
        # The host reaches the instance on its bridge address.
        with urllib.request.urlopen(f"http://{b['private_ip']}:8080/", timeout=10) as r:
            self.assertEqual(r.read(), b"hello-from-n-2\n")
        hosts = self.kiln("exec", "n-1", "--", "cat", "/etc/hosts").stdout
        self.assertIn(f"{b['private_ip']}\tn-2", hosts)
        # A later instance appears in the others' /etc/hosts; a terminated one leaves them.
        self.kiln("launch", "bb", "--name", "late", "--type", "nano")
        late = self.kiln_json("inspect", "late")["private_ip"]
        self.assertIn(f"{late}\tlate", self.kiln("exec", "n-1", "--", "cat", "/etc/hosts").stdout)
        self.kiln("rm", "-f", "late")
        self.assertNotIn("late", self.kiln("exec", "n-1", "--", "cat", "/etc/hosts").stdout)
        net = self.kiln_json("network", "inspect", "bridge")
        self.assertEqual(net["subnet"], self.daemon.subnet)
        self.assertEqual(sorted(i["name"] for i in net["instances"]), ["n-1", "n-2"])
        self.assertFalse(net["nat"])
        # A restart of kilnd keeps running instances' networking.
        self.daemon.stop()
        self.daemon.start()
        out = self.kiln("exec", "n-1", "--", "busybox", "wget", "-qO-", "http://n-2:8080/").stdout
        self.assertEqual(out, "hello-from-n-2\n")

    def test_ipv6_beside_ipv4(self):
        # A unique-local prefix of the test's own; the instances' addresses mirror their IPv4 ones.
        self.daemon.stop()
        # A group without a leading zero, so the text kiln prints back is the same text.
        subnet6 = f"fd6b:{random.randrange(0x1000, 0x10000):x}::/64"
        self.daemon.extra_args = ["--subnet6", subnet6]
        self.daemon.start()
        self.kiln("launch", "bb", "--count", "2", "--name", "v-{n}", "--type", "nano")
        a, b = self.kiln_json("inspect", "v-1"), self.kiln_json("inspect", "v-2")
        prefix = subnet6.split("::")[0] + "::"
        for info in (a, b):
            offset = int(info["private_ip"].rsplit(".", 1)[1])
            # kiln prints the canonical form (RFC 5952: no leading zeros in a group).
            self.assertEqual(info["private_ipv6"],
                             str(ipaddress.ip_address(f"{prefix}{offset:x}")))
        addrs = self.kiln("exec", "v-2", "--", "busybox", "ip", "-6", "-o", "addr", "show", "eth0").stdout
        self.assertIn(b["private_ipv6"] + "/64", addrs)
        self.serve("v-2", 8080, "hello-over-v6")
        for target in (f"[{b['private_ipv6']}]", "v-2"):
            out = self.kiln("exec", "v-1", "--", "busybox", "wget", "-qO-",
                            f"http://{target}:8080/").stdout
            self.assertEqual(out, "hello-over-v6\n")
        with urllib.request.urlopen(f"http://[{b['private_ipv6']}]:8080/", timeout=10) as r:
            self.assertEqual(r.read(), b"hello-over-v6\n")
        self.assertIn(f"{b['private_ipv6']}\tv-2", self.kiln("exec", "v-1", "--", "cat", "/etc/hosts").stdout)
        net = self.kiln_json("network", "inspect", "bridge")
        self.assertEqual((net["subnet6"], net["gateway6"]), (subnet6, prefix + "1"))
        self.assertEqual(sorted(i["private_ipv6"] for i in net["instances"]),
                         sorted([a["private_ipv6"], b["private_ipv6"]]))
        ids = [a["id"], b["id"]]
        self.kiln("rm", "-f", "v-1", "v-2")
        self.assertEqual(kiln_devices(ids), [])
        # A bad IPv6 subnet stops kilnd at start with a clear message.
        self.daemon.stop()
        for bad, words in (("fe80::/64", "link-local"), ("fd6b::/120", "prefix"),
                           ("fd6b::1/64", "host bits"), ("nonsense/64", "not an IPv6")):
            self.daemon.extra_args = ["--subnet6", bad]
            proc = self.daemon.start(expect_ok=False)
            self.assertNotEqual(proc.wait(timeout=10), 0, bad)
            self.assertIn(words, self.daemon.read_log(), bad)
        self.daemon.extra_args = []
        self.daemon.start()

    def test_none_has_loopback_only(self):
        self.kiln("launch", "bb", "--name", "iso", "--network", "none", "--type", "nano")
        info = self.kiln_json("inspect", "iso")
        self.assertEqual(info["network"], "none")
        self.assertNotIn("private_ip", info)
        links = self.kiln("exec", "iso", "--", "busybox", "ip", "-o", "link").stdout
        self.assertEqual([l.split(":")[1].strip() for l in links.splitlines()], ["lo"])
        self.assertEqual(self.kiln("exec", "iso", "--", "busybox", "ip", "route").stdout.strip(), "")
        gw = self.daemon.subnet.rsplit(".", 1)[0] + ".1"
        r = self.kiln("exec", "iso", "--", "busybox", "nc", "-w", "2", gw, "80", input="", ok=False)
        self.assertIn("unreachable", r.stderr.lower() + r.stdout.lower())

    def test_launch_and_terminate_leave_nothing(self):
        ids = self.kiln("launch", "bb", "--count", "20", "--name", "f-{n}", "--type", "nano").stdout.split()
        self.assertEqual(len(ids), 20)
        ips = {self.kiln_json("inspect", i)["private_ip"] for i in ids}
        self.assertEqual(len(ips), 20)  # never shared
        self.assertEqual(len(kiln_devices(ids)), 40)
        for i in ids:
            self.kiln("rm", "-f", i)
        self.assertEqual(kiln_devices(ids), [])
        # Addresses come back after terminate.
        again = self.kiln("launch", "bb", "--name", "again", "--type", "nano").stdout.strip()
        self.assertIn(self.kiln_json("inspect", again)["private_ip"], ips)

    def test_kill9_during_launch_leaves_nothing(self):
        proc = subprocess.Popen([os.environ.get("KILN_BIN_DIR", "../build/src") + "/kiln", "--socket",
                                 self.socket, "launch", "bb", "--count", "10", "--name", "k-{n}",
                                 "--type", "nano"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline and not any(n.startswith("kiln-") for n in os.listdir("/run/netns")):
            time.sleep(0.01)
        time.sleep(0.2)
        self.daemon.kill9()
        proc.wait(timeout=30)
        self.daemon.start()
        live = self.kiln_json("ls")
        ids = [i["id"] for i in self.kiln_json("ls", "--all")]
        for inst in live:
            self.kiln("rm", "-f", inst["id"])
        self.assertEqual(kiln_devices(ids), [])
        self.assertNotIn("k-", json.dumps(self.kiln_json("network", "inspect", "bridge")["instances"]))

    def test_published_port_answers_from_the_host(self):
        port = free_port()
        self.kiln("launch", "bb", "--name", "web", "--type", "nano", "--publish", f"{port}:8080")
        info = self.kiln_json("inspect", "web")
        self.assertEqual(info["ports"], [{"protocol": "tcp", "host_ip": "127.0.0.1", "host_port": port,
                                          "instance_port": 8080}])
        self.serve("web", 8080, "published")
        self.assertEqual(http_get(port), b"published\n")
        # The port is taken: a second instance asking for it is refused and leaves nothing.
        before = [i["id"] for i in self.kiln_json("ls", "--all")]
        r = self.kiln("launch", "bb", "--name", "clash", "--publish", f"{port}:80", ok=False)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("in use", r.stderr)
        self.assertEqual([i["id"] for i in self.kiln_json("ls", "--all")], before)
        # kilnd dies and comes back: the forwarder (like the instance) kept serving.
        self.daemon.kill9()
        self.assertEqual(http_get(port), b"published\n")
        self.daemon.start()
        self.assertEqual(http_get(port), b"published\n")
        # Stopped, the port is free; started again, it is held again.
        self.kiln("stop", "web")
        self.assertFalse(port_in_use(port))
        self.kiln("start", "web")
        self.assertTrue(port_in_use(port))
        self.serve("web", 8080, "again")
        self.assertEqual(http_get(port), b"again\n")
        self.kiln("rm", "-f", "web")
        self.assertFalse(port_in_use(port))

    def outside_host(self):
        """A namespace standing for a machine beyond the host: 198.51.100.2, routed via a veth
        whose host end is 198.51.100.1. It serves HTTP and records who called."""
        tag = os.urandom(3).hex()
        ns, veth = f"kt-out-{tag}", f"ko{tag}"
        run = lambda *a: subprocess.run(["ip", *a], check=True, capture_output=True)
        run("netns", "add", ns)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", ns], capture_output=True)
        run("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("addr", "add", "198.51.100.1/24", "dev", veth)
        run("link", "set", veth, "up")
        run("-n", ns, "addr", "add", "198.51.100.2/24", "dev", "eth0")
        run("-n", ns, "link", "set", "eth0", "up")
        run("-n", ns, "link", "set", "lo", "up")
        run("-n", ns, "route", "add", "default", "via", "198.51.100.1")
        log = self.path("outside.log")
        open(log, "w").close()
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", (
            "import http.server,sys\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "  def do_GET(self):\n"
            "    open(sys.argv[1],'a').write(self.client_address[0]+'\\n')\n"
            "    self.send_response(200); self.end_headers(); self.wfile.write(b'outside')\n"
            "  def log_message(self,*a): pass\n"
            "http.server.HTTPServer(('198.51.100.2',8000),H).serve_forever()\n"), log])
        self.addCleanup(server.wait)
        self.addCleanup(server.kill)
        deadline = time.time() + 20
        while True:  # the host routes to it directly
            try:
                socket.create_connection(("198.51.100.2", 8000), 1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise AssertionError("the outside server did not come up")
                time.sleep(0.05)
        return log

    def test_nat_off_by_default_and_on_when_asked(self):
        def set_forward(text):
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
                f.write(text)

        with open("/proc/sys/net/ipv4/ip_forward") as f:
            forward = f.read()
        self.addCleanup(set_forward, forward)
        log = self.outside_host()
        self.kiln("launch", "bb", "--name", "in", "--type", "nano")
        # NAT off: nothing leaves the host, even with forwarding on.
        set_forward("1\n")
        # (busybox wget -T crashes in Debian's static build, so nc -w checks reachability)
        r = self.kiln("exec", "in", "--", "busybox", "nc", "-w", "2", "198.51.100.2", "8000", input="",
                      ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(self.kiln_json("network", "inspect", "bridge")["nat"])
        # NAT on: the instance reaches it, seen as the host's address.
        self.daemon.stop()
        self.daemon.extra_args = ["--nat"]
        self.daemon.start()
        self.assertTrue(self.kiln_json("network", "inspect", "bridge")["nat"])
        out = self.kiln("exec", "in", "--", "busybox", "wget", "-qO-", "http://198.51.100.2:8000/")
        self.assertEqual(out.stdout, "outside")
        with open(log) as f:
            self.assertEqual(f.read().split(), ["198.51.100.1"])  # the only call that got through

    def test_kill9_during_terminate_leaves_nothing(self):
        ids = self.kiln("launch", "bb", "--count", "6", "--name", "t-{n}", "--type", "nano").stdout.split()
        rm = subprocess.Popen([os.environ.get("KILN_BIN_DIR", "../build/src") + "/kiln", "--socket",
                               self.socket, "rm", "-f", *ids], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline and len(kiln_devices(ids)) == 12:
            time.sleep(0.005)
        self.daemon.kill9()  # mid-way through the terminations
        rm.wait(timeout=30)
        self.daemon.start()
        states = {i["id"]: i["state"] for i in self.kiln_json("ls", "--all")}
        gone = [i for i in ids if states.get(i) == "terminated"]
        self.assertTrue(gone)
        self.assertEqual(kiln_devices(gone), [])  # whatever was terminated left nothing
        for i in ids:
            self.kiln("rm", "-f", i)
        self.assertEqual(kiln_devices(ids), [])

    def test_bad_input(self):
        for bad in ["80", "x:80", "1.2.3:80:80", "70000:80", "80:80/sctp"]:
            r = self.kiln("launch", "bb", "--publish", bad, ok=False)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--publish", r.stderr)
        r = self.kiln("launch", "bb", "--network", "none", "--publish", "8080:80", ok=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.kiln("launch", "bb", "--count", "2", "--name", "p-{n}", "--publish", "8080:80", ok=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.kiln("launch", "bb", "--network", "nat", ok=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--network", r.stderr)
        self.assertEqual(self.kiln_json("ls"), [])
        self.assert_fails_cleanly(["network", "inspect", "nope"], 3, ["nope"])
