"""Registries: push and pull through a real docker-registry, between two kiln roots ("hosts"),
with skopeo as the independent checker; auth, TLS, resumed pulls and corrupted blobs."""
import http.client
import http.server
import json
import os
import platform
import stat
import subprocess
import threading
import time

from kiln_harness import (KILN, comparable_tree, Daemon, KilnTestCase, make_busybox_rootfs,
                          make_rich_tree, make_test_ca, Registry, require_tool, TokenServer,
                          tree_manifest)
from test_bad_input import sha, tar_bytes
from test_escape_corpus import registry_upload

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def read_json(path):
    with open(path) as f:
        return json.load(f)


class ThrottlingProxy:
    """Forwards to a registry, sending blob bodies slowly, and notes the Range headers it saw
    and the blob bytes it sent: lets a test cut a pull half way and watch it resume."""

    def __init__(self, upstream_port, rate=8 << 20):
        self.ranges, self.blob_bytes = [], 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def forward(self):
                body = None
                if self.headers.get("Content-Length"):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                is_blob = "/blobs/sha256:" in self.path and self.command == "GET"
                if is_blob:
                    proxy.ranges.append(self.headers.get("Range"))
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.end_headers()
                try:
                    while True:
                        chunk = r.read(64 << 10)
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        if is_blob:
                            proxy.blob_bytes += len(chunk)
                            time.sleep(len(chunk) / rate)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                conn.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class RegistryTest(KilnTestCase):

    def setUp(self):
        require_tool("runc")
        super().setUp()
        self.registry = Registry(self.path("registry")).start()
        self.addCleanup(self.registry.stop)
        self.reg = self.registry.host
        make_busybox_rootfs(self.path("rootfs"))
        self.kiln("image", "import", self.path("rootfs"), "--name", "base")

    def tearDown(self):
        # The second host's cleanup needs its root: run it before the base class removes it.
        self.doCleanups()
        super().tearDown()

    def second_host(self):
        """A second kilnd with its own root: another machine of the fleet."""
        d = Daemon(self.path("root2"), self.path("kiln2.sock"))
        d.start()

        def cleanup():
            r = self.kiln_on(d, "--json", "ls", ok=None)
            if r.returncode == 0:
                for inst in json.loads(r.stdout):
                    self.kiln_on(d, "rm", "-f", inst["id"], ok=None)
            d.stop()
            d.remove_bridge()
        self.addCleanup(cleanup)
        return d

    def kiln_on(self, daemon, *args, ok=True, env=None):
        r = subprocess.run([KILN, "--socket", daemon.socket, *args], capture_output=True, text=True,
                           timeout=300, env=env)
        if ok is True and r.returncode != 0:
            self.fail(f"kiln {' '.join(args)} on {daemon.root} failed ({r.returncode}): {r.stderr}\n"
                      f"{daemon.read_log()[-3000:]}")
        return r

    def skopeo(self, *args):
        return subprocess.run([require_tool("skopeo"), *args], check=True, capture_output=True,
                              text=True).stdout

    def test_push_then_pull_on_another_host_launches_the_same_tree(self):
        self.kiln("launch", "base", "--name", "src")
        src = os.path.join(self.root, "instances", self.kiln_json("inspect", "src")["id"], "rootfs")
        make_rich_tree(os.path.join(src, "srv", "tree"))
        self.kiln("image", "create", "src", "--name", "web", "--wait")
        pushed = json.loads(self.kiln("--json", "image", "push", "web", f"{self.reg}/fleet/web:v1").stdout)
        self.assertEqual(pushed["reference"], f"{self.reg}/fleet/web:v1@{pushed['digest']}")
        self.assertEqual(pushed["blobs_uploaded"], 3)  # two layers and the config

        host2 = self.second_host()
        out = self.kiln_on(host2, "--json", "image", "pull", f"{self.reg}/fleet/web:v1", "--name", "web")
        pulled = json.loads(out.stdout)
        self.assertEqual(pulled["manifest_digest"], pushed["digest"])
        self.assertEqual(pulled["tags"]["kiln:source"], f"{self.reg}/fleet/web:v1")
        # The manifest the registry holds is the one kiln pushed, byte for byte.
        raw = self.skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{self.reg}/fleet/web:v1")
        import hashlib
        self.assertEqual("sha256:" + hashlib.sha256(raw.encode()).hexdigest(), pushed["digest"])
        self.assertEqual([l["mediaType"] for l in json.loads(raw)["layers"]],
                         ["application/vnd.oci.image.layer.v1.tar+gzip"] * 2)
        self.kiln_on(host2, "launch", "web", "--name", "copy")
        copy = os.path.join(host2.root, "instances", json.loads(
            self.kiln_on(host2, "--json", "inspect", "copy").stdout)["id"], "rootfs")
        want = comparable_tree(tree_manifest(os.path.join(src, "srv")))
        self.assertEqual(comparable_tree(tree_manifest(os.path.join(copy, "srv"))), want)
        self.assertEqual(self.kiln_on(host2, "exec", "copy", "--", "cat", "/srv/tree/etc/app/conf").returncode, 0)
        self.assertEqual(self.kiln_on(host2, "image", "verify", "web").returncode, 0)

    def test_second_push_uploads_nothing_and_other_repos_mount(self):
        first = json.loads(self.kiln("--json", "image", "push", "base", f"{self.reg}/a/base:1").stdout)
        again = json.loads(self.kiln("--json", "image", "push", "base", f"{self.reg}/a/base:1").stdout)
        self.assertEqual((again["blobs_uploaded"], again["blobs_skipped"]), (0, 2))
        self.assertEqual(again["digest"], first["digest"])  # compression is reproducible
        other = json.loads(self.kiln("--json", "image", "push", "base", f"{self.reg}/b/base:1").stdout)
        self.assertEqual((other["blobs_uploaded"], other["blobs_skipped"]), (0, 2))
        self.assertNotIn("mount of", self.daemon.read_log())
        # zstd on request; the result pulls and runs.
        z = json.loads(self.kiln("--json", "image", "push", "base", f"{self.reg}/a/base:zstd",
                                 "--compression", "zstd").stdout)
        raw = json.loads(self.skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{self.reg}/a/base:zstd"))
        self.assertEqual(raw["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd")
        host2 = self.second_host()
        self.kiln_on(host2, "image", "pull", f"{self.reg}/a/base@{z['digest']}", "--name", "bz")
        self.kiln_on(host2, "launch", "bz", "--name", "z1")
        self.assertEqual(self.kiln_on(host2, "exec", "z1", "--", "echo", "zstd ok").stdout, "zstd ok\n")

    def test_skopeo_interop_both_ways(self):
        pushed = json.loads(self.kiln("--json", "image", "push", "base", f"{self.reg}/k/base:1").stdout)
        # skopeo reads what kiln pushed, with every digest checked on the way.
        self.skopeo("copy", "--src-tls-verify=false", f"docker://{self.reg}/k/base:1",
                    f"oci:{self.path('sk')}:x")
        # skopeo pushes an image kiln exported; kiln pulls it with the same digests.
        self.kiln("image", "export", "base", "--format", "dir", "-o", self.path("lay"))
        self.skopeo("copy", "--dest-tls-verify=false", f"oci:{self.path('lay')}:base",
                    f"docker://{self.reg}/s/base:2")
        theirs = json.loads(self.skopeo("inspect", "--tls-verify=false", f"docker://{self.reg}/s/base:2"))
        host2 = self.second_host()
        pulled = json.loads(self.kiln_on(host2, "--json", "image", "pull", f"{self.reg}/s/base:2").stdout)
        self.assertEqual(pulled["name"], "base-2")
        self.assertEqual(pulled["manifest_digest"], theirs["Digest"])
        self.assertEqual([l["digest"] for l in pulled["layers"]], theirs["Layers"])
        self.assertNotEqual(pulled["manifest_digest"], pushed["digest"])  # skopeo kept it plain

    def test_corrupted_blob_is_detected_and_nothing_is_stored(self):
        pushed = json.loads(self.kiln("--json", "image", "push", "base", f"{self.reg}/c/base:1").stdout)
        raw = json.loads(self.skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{self.reg}/c/base:1"))
        data = self.registry.blob_data(raw["layers"][0]["digest"])
        with open(data, "r+b") as f:  # same length, different bytes
            f.seek(os.path.getsize(data) // 2)
            f.write(b"\x00kiln-was-here\x00")
        host2 = self.second_host()
        before = sorted(os.listdir(os.path.join(host2.root, "blobs", "sha256")))
        r = self.kiln_on(host2, "image", "pull", f"{self.reg}/c/base:1", "--name", "bad", ok=None)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("hashes to", r.stderr)
        self.assertEqual(json.loads(self.kiln_on(host2, "--json", "image", "ls").stdout), [])
        self.assertEqual(sorted(os.listdir(os.path.join(host2.root, "blobs", "sha256"))), before)
        self.assertEqual(os.listdir(os.path.join(host2.root, "partial")), [])
        self.assertTrue(pushed["digest"])

    def test_multi_platform_index_pulls_the_hosts_image(self):
        # The host's image is kiln's own push; two other platforms are uploaded by hand, each
        # with a layer naming its platform, and an index names all three.
        host_arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(),
                                                                platform.machine())
        pushed = json.loads(self.kiln("--json", "image", "push", "base",
                                      f"{self.reg}/m/app:{host_arch}").stdout)
        mine = {"mediaType": OCI_MANIFEST, "digest": pushed["digest"],
                "size": os.path.getsize(self.registry.blob_data(pushed["digest"])),
                "platform": {"os": "linux", "architecture": host_arch}}
        others = []
        for arch in [a for a in ("arm64", "s390x", "ppc64le") if a != host_arch][:2]:
            m = registry_upload(self.registry, "m/app", arch,
                                [tar_bytes([("PLATFORM", "file", arch)])], arch=arch)
            others.append({"mediaType": OCI_MANIFEST, "digest": sha(m), "size": len(m),
                           "platform": {"os": "linux", "architecture": arch}})

        def put_index(tag, manifests):
            body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                               "manifests": manifests}).encode()
            self.registry.put_manifest("m/app", tag, body, OCI_INDEX)
        put_index("multi", [others[0], mine, others[1]])
        put_index("elsewhere", others)

        host2 = self.second_host()
        blobs2 = os.path.join(host2.root, "blobs", "sha256")
        before = sorted(os.listdir(blobs2))
        # No image for this host: the error names what the index has; nothing is stored.
        r = self.kiln_on(host2, "image", "pull", f"{self.reg}/m/app:elsewhere", "--name", "x",
                         ok=None)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(f"no image for linux/{host_arch}", r.stderr)
        self.assertIn(", ".join("linux/" + o["platform"]["architecture"] for o in others),
                      r.stderr)
        self.assertEqual(sorted(os.listdir(blobs2)), before)
        self.assertEqual(json.loads(self.kiln_on(host2, "--json", "image", "ls").stdout), [])
        # The index: kiln takes the host's manifest, digest for digest, and nothing else.
        pulled = json.loads(self.kiln_on(host2, "--json", "image", "pull",
                                         f"{self.reg}/m/app:multi", "--name", "app").stdout)
        self.assertEqual(pulled["manifest_digest"], pushed["digest"])
        pushed_layers = read_json(self.registry.blob_data(pushed["digest"]))["layers"]
        self.assertEqual([l["digest"] for l in pulled["layers"]],
                         [l["digest"] for l in pushed_layers])
        self.kiln_on(host2, "launch", "app", "--name", "a1")
        self.assertEqual(self.kiln_on(host2, "exec", "a1", "--", "echo", "mine").stdout, "mine\n")
        self.assertNotEqual(self.kiln_on(host2, "exec", "a1", "--", "ls", "/PLATFORM",
                                         ok=None).returncode, 0)

    def test_pull_cut_half_way_resumes(self):
        # A 48 MiB incompressible layer, served at 8 MiB/s through a proxy.
        big = self.path("bigroot")
        make_busybox_rootfs(big)
        with open(os.path.join(big, "blob.bin"), "wb") as f:
            f.write(os.urandom(48 << 20))
        self.kiln("image", "import", big, "--name", "big")
        self.kiln("image", "push", "big", f"{self.reg}/r/big:1", "--compression", "none")
        proxy = ThrottlingProxy(self.registry.port)
        self.addCleanup(proxy.stop)
        host2 = self.second_host()
        partial = os.path.join(host2.root, "partial")
        ref = f"{proxy.host}/r/big:1"
        puller = subprocess.Popen([KILN, "--socket", host2.socket, "image", "pull", ref, "--name", "big"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            sizes = [os.path.getsize(os.path.join(partial, n)) for n in os.listdir(partial)]
            if sizes and max(sizes) > (12 << 20):
                break
            time.sleep(0.05)
        else:
            self.fail("the pull never got going")
        host2.kill9()  # kilnd dies half way through the blob
        puller.wait(timeout=30)
        self.assertNotEqual(puller.returncode, 0)
        kept = max(os.path.getsize(os.path.join(partial, n)) for n in os.listdir(partial))
        self.assertGreater(kept, 12 << 20)
        host2.start()
        sent_before = proxy.blob_bytes
        out = self.kiln_on(host2, "--json", "image", "pull", ref, "--name", "big")
        pulled = json.loads(out.stdout)
        self.assertIn("resuming", host2.read_log())
        self.assertTrue(any(r and r.startswith("bytes=") and int(r[6:].rstrip("-")) >= kept - (1 << 20)
                            for r in proxy.ranges), proxy.ranges)
        # The second pull fetched about what was missing, not the whole blob again.
        self.assertLess(proxy.blob_bytes - sent_before, (48 << 20) - kept + (4 << 20))
        self.assertEqual(self.kiln_on(host2, "image", "verify", "big").returncode, 0)
        self.assertEqual(os.listdir(partial), [])
        self.assertEqual(pulled["layers"], self.kiln_json("image", "inspect", "big")["layers"])

    def test_bad_input_changes_nothing(self):
        before = self.store_state()
        self.assert_fails_cleanly(["image", "pull", "localhost:5000/Bad:ref"], 2, ["invalid image reference"])
        self.assert_fails_cleanly(["image", "push", "base", "nohost/web:v1"], 2, ["name the registry"])
        self.assert_fails_cleanly(["image", "push", "nope", f"{self.reg}/x/y:1"], 3, ["nope"])
        self.assert_fails_cleanly(["image", "pull", f"{self.reg}/x/missing:1"], 3, ["404"])
        self.assert_fails_cleanly(["image", "pull", f"{self.reg}/x/y:1", "--name", "base"], 4, ["already exists"])
        closed = f"127.0.0.1:{__import__('kiln_harness').free_port()}"
        line = self.assert_fails_cleanly(["image", "pull", f"{closed}/x/y:1"], 1, ["cannot reach"])
        self.assertIn(closed, line)
        self.assertEqual(self.store_state(), before)


class RegistryAuthTest(KilnTestCase):
    """A private registry: TLS from a test CA and htpasswd basic auth."""

    def setUp(self):
        require_tool("runc")
        super().setUp()
        self.ca, cert, key = make_test_ca(self.path("ca"))
        self.registry = Registry(self.path("registry"), users={"alice": "s3cret"},
                                 tls=(cert, key)).start()
        self.addCleanup(self.registry.stop)
        self.reg = self.registry.host
        self.env = dict(os.environ, KILN_AUTH_FILE=self.path("auth.json"))
        make_busybox_rootfs(self.path("rootfs"))
        self.kiln("image", "import", self.path("rootfs"), "--name", "base")

    def k(self, *args, input=None):
        return subprocess.run([KILN, "--socket", self.socket, *args], capture_output=True, text=True,
                              env=self.env, input=input, timeout=300)

    def test_login_push_pull_over_tls(self):
        dest = f"{self.reg}/private/base:1"
        # Unknown CA: refused, and the error says what to do.
        r = self.k("image", "push", "base", dest)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("--ca-file", r.stderr)
        # Anonymous: permission denied, exit 6, with the way out.
        r = self.k("image", "push", "base", dest, "--ca-file", self.ca)
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("kiln login", r.stderr)
        # A wrong password is refused and nothing is saved.
        r = self.k("login", self.reg, "-u", "alice", "--password-stdin", "--ca-file", self.ca, input="wrong\n")
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertFalse(os.path.exists(self.path("auth.json")))
        r = self.k("login", self.reg, "-u", "alice", "--password-stdin", "--ca-file", self.ca, input="s3cret\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("auth.json")).st_mode), 0o600)
        self.assertIn(self.reg, read_json(self.path("auth.json"))["auths"])
        r = self.k("--json", "image", "push", "base", dest, "--ca-file", self.ca)
        self.assertEqual(r.returncode, 0, r.stderr)
        digest = json.loads(r.stdout)["digest"]
        r = self.k("--json", "image", "pull", dest, "--name", "again", "--ca-file", self.ca)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["manifest_digest"], digest)
        # --tls-verify=false also reaches it; credentials from the environment work too.
        env = dict(self.env, KILN_REGISTRY_USERNAME="alice", KILN_REGISTRY_PASSWORD="s3cret",
                   KILN_AUTH_FILE=self.path("none.json"))
        r = subprocess.run([KILN, "--socket", self.socket, "image", "pull", dest, "--name", "third",
                            "--tls-verify=false"], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.k("logout", self.reg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(self.reg, read_json(self.path("auth.json"))["auths"])
        # skopeo, with the same CA and credentials, reads what kiln pushed.
        os.makedirs(self.path("certs"))
        os.symlink(self.ca, self.path("certs", "ca.crt"))
        subprocess.run([require_tool("skopeo"), "inspect", "--cert-dir", self.path("certs"),
                        "--creds", "alice:s3cret", f"docker://{dest}"], check=True, capture_output=True)


class RegistryTokenTest(KilnTestCase):
    """Bearer tokens: the registry sends kiln to a token service, as Docker Hub, Harbor, GitLab
    and most cloud registries do."""

    def test_bearer_token_flow(self):
        self.tokens = TokenServer(self.path("tokens"), {"bob": "hunter2"})
        self.addCleanup(self.tokens.stop)
        registry = Registry(self.path("registry"), token=self.tokens).start()
        self.addCleanup(registry.stop)
        make_busybox_rootfs(self.path("rootfs"))
        self.kiln("image", "import", self.path("rootfs"), "--name", "base")
        dest = f"{registry.host}/team/base:1"
        env = dict(os.environ, KILN_AUTH_FILE=self.path("auth.json"))
        run = lambda *a, input=None: subprocess.run([KILN, "--socket", self.socket, *a], capture_output=True,
                                                    text=True, env=env, input=input)
        r = run("image", "push", "base", dest)  # anonymous: the token grants nothing
        self.assertEqual(r.returncode, 6, r.stderr)
        r = run("login", registry.host, "-u", "bob", "--password-stdin", input="nope\n")
        self.assertEqual(r.returncode, 6, r.stderr)
        r = run("login", registry.host, "-u", "bob", "--password-stdin", input="hunter2\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("--json", "image", "push", "base", dest)
        self.assertEqual(r.returncode, 0, r.stderr + self.daemon.read_log()[-2000:])
        r = run("--json", "image", "pull", dest, "--name", "back")
        self.assertEqual(r.returncode, 0, r.stderr)
        scopes = [s for req in self.tokens.requests if req["user"] == "bob" for s in req["scope"]]
        self.assertIn("repository:team/base:pull,push", scopes)
        self.assertIn("repository:team/base:pull", scopes)


if __name__ == "__main__":
    import unittest
    unittest.main()
