"""Black-box test harness: a real kilnd in a temporary root, driven through the real kiln CLI.

Each test gets a fresh root and socket. Nothing here mocks kiln: tests see exactly what a user
sees (exit codes, stdout, stderr) plus the on-disk state of the root, which they inspect to prove
that bad input changed nothing.
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("KILN_BIN_DIR", os.path.join(HERE, "..", "build", "src"))
KILN = os.path.join(BIN, "kiln")
KILND = os.path.join(BIN, "kilnd")


def require_tool(name):
    """Tests that need a peer fail loudly when it is missing; they never skip."""
    path = shutil.which(name)
    if not path:
        raise AssertionError(f"{name} is not installed: run scripts/install-deps")
    return path


def mounts_under(path):
    """Mount points at or below path, in mount order."""
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mnt = line.split()[1].replace("\\040", " ")
            if mnt == path or mnt.startswith(path + "/"):
                out.append(mnt)
    return out


class Daemon:
    def __init__(self, root, socket, extra_args=()):
        self.root, self.socket, self.proc, self.log = root, socket, None, socket + ".log"
        self.extra_args = list(extra_args)
        # Each test kilnd gets its own bridge and subnet, so tests running side by side (and a
        # kilnd on the default kiln0) never share addresses.
        rnd = os.urandom(3)
        self.bridge = "kt" + rnd.hex()
        self.subnet = f"10.{100 + rnd[0] % 100}.{rnd[1]}.0/24"

    def start(self, expect_ok=True):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([KILND, "--root", self.root, "--socket", self.socket,
                                      "--bridge", self.bridge, "--subnet", self.subnet,
                                      *self.extra_args],
                                     stdout=logf, stderr=logf)
        logf.close()
        if not expect_ok:
            return self.proc
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"kilnd exited with {self.proc.returncode}: {self.read_log()}")
            if os.path.exists(self.socket):
                r = subprocess.run([KILN, "--socket", self.socket, "version"], capture_output=True)
                if r.returncode == 0:
                    return self.proc
            time.sleep(0.02)
        raise AssertionError("kilnd did not come up: " + self.read_log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("kilnd did not stop on SIGTERM within 15 s")
        return self.proc.returncode if self.proc else None

    def remove_bridge(self):
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        subprocess.run(["nft", "delete", "table", "inet", "kiln_" + self.bridge], capture_output=True)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class KilnTestCase(unittest.TestCase):
    """Starts a kilnd per test in a temporary root."""

    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kiln-bb-")
        self.root = os.path.join(self.tmp, "root")
        self.socket = os.path.join(self.tmp, "kiln.sock")
        self.daemon = Daemon(self.root, self.socket)
        self.daemon.start()

    def tearDown(self):
        try:
            # Instances outlive kilnd by design: take them down so nothing leaks from a test.
            if self.daemon.proc and self.daemon.proc.poll() is None:
                r = subprocess.run([KILN, "--socket", self.socket, "--json", "ls"],
                                   capture_output=True, text=True)
                if r.returncode == 0:
                    for inst in json.loads(r.stdout):
                        subprocess.run([KILN, "--socket", self.socket, "rm", "-f", inst["id"]],
                                       capture_output=True)
            self.daemon.stop()
        finally:
            runtime_root = os.path.join(self.root, "runtime")
            if os.path.isdir(runtime_root) and shutil.which("runc"):
                for cid in os.listdir(runtime_root):
                    subprocess.run(["runc", "--root", runtime_root, "delete", "--force", cid],
                                   capture_output=True)
            # A test that left kilnd dead leaves instances' namespaces: remove them too.
            instances = os.path.join(self.root, "instances")
            if os.path.isdir(instances):
                for iid in os.listdir(instances):
                    subprocess.run(["ip", "netns", "del", "kiln-" + iid], capture_output=True)
            self.daemon.remove_bridge()
            for mnt in reversed(mounts_under(self.tmp)):
                subprocess.run(["umount", "-l", mnt], capture_output=True)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def kiln(self, *args, ok=True, input=None, timeout=300):
        r = subprocess.run([KILN, "--socket", self.socket, *args], capture_output=True,
                           text=True, input=input, timeout=timeout)
        if ok is True and r.returncode != 0:
            self.fail(f"kiln {' '.join(args)} failed ({r.returncode}): {r.stderr}\n"
                      f"daemon log:\n{self.daemon.read_log()[-3000:]}")
        if ok is False and r.returncode == 0:
            self.fail(f"kiln {' '.join(args)} succeeded but should have failed: {r.stdout}")
        return r

    def kiln_json(self, *args):
        return json.loads(self.kiln("--json", *args).stdout)

    def assert_fails_cleanly(self, args, code, words):
        """Non-zero exit with the given code and exactly one line on stderr naming the problem."""
        r = self.kiln(*args, ok=False)
        self.assertEqual(r.returncode, code, r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("kiln: "), lines[0])
        for w in words:
            self.assertIn(w, lines[0])
        return lines[0]

    def api(self, method, path, body=b""):
        """One raw request to kilnd's socket, as any API client would send it: (status, JSON)."""
        import socket as socketlib

        class Conn(http.client.HTTPConnection):
            def connect(conn):
                conn.sock = socketlib.socket(socketlib.AF_UNIX)
                conn.sock.connect(self.socket)

        c = Conn("kilnd", timeout=60)
        c.request(method, path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None

    def store_state(self):
        """Everything an operation may change: catalog content, blobs, temp files."""
        images = self.kiln_json("image", "ls")
        blobs = sorted(os.listdir(os.path.join(self.root, "blobs", "sha256")))
        tmp = sorted(os.listdir(os.path.join(self.root, "tmp")))
        return {"images": images, "blobs": blobs, "tmp": tmp}


def make_busybox_rootfs(dest):
    """A tiny but real rootfs: static busybox and its applet links."""
    busybox = "/bin/busybox"
    if not os.path.exists(busybox):
        raise AssertionError("busybox-static is not installed: run scripts/install-deps")
    for d in ["bin", "etc", "root", "tmp", "dev", "proc", "sys"]:
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    shutil.copy2(busybox, os.path.join(dest, "bin", "busybox"))
    for applet in ["sh", "ls", "cat", "echo", "true", "false", "sleep", "mkdir", "rm", "ps",
                   "hostname", "touch", "id", "env", "head", "grep", "dd", "mount"]:
        os.symlink("busybox", os.path.join(dest, "bin", applet))
    with open(os.path.join(dest, "etc", "os-release"), "w") as f:
        f.write('NAME="kiln test busybox"\n')
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    return dest


def make_rich_tree(dest):
    """A tree with every kind of entry an image must carry exactly."""
    os.makedirs(dest)
    p = lambda *a: os.path.join(dest, *a)
    os.makedirs(p("etc", "app"))
    os.makedirs(p("empty"))
    with open(p("etc", "app", "conf"), "w") as f:
        f.write("key=value\n")
    with open(p("big.bin"), "wb") as f:
        f.write(os.urandom(3 << 20))
    with open(p("setuid"), "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(p("setuid"), 0o4755)
    with open(p("setgid"), "w") as f:
        f.write("x")
    os.chmod(p("setgid"), 0o2711)
    os.makedirs(p("sticky"))
    os.chmod(p("sticky"), 0o1777)
    with open(p("owned"), "w") as f:
        f.write("owned by 1234:5678\n")
    os.chown(p("owned"), 1234, 5678)
    os.makedirs(p("home", "user"))
    os.chown(p("home", "user"), 1000, 1000)
    os.chmod(p("home", "user"), 0o700)
    os.symlink("../etc/app/conf", p("home", "link-rel"))
    os.symlink("/etc/app/conf", p("abs-link"))
    os.symlink("does/not/exist", p("dangling"))
    os.link(p("etc", "app", "conf"), p("hardlink"))
    os.mkfifo(p("fifo"))
    os.mknod(p("null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    with open(p("xattr-file"), "w") as f:
        f.write("x")
    os.setxattr(p("xattr-file"), "user.kiln.test", b"hello")
    with open(p("empty-file"), "w"):
        pass
    with open(p("unicode-\u00e9\u00e8"), "w") as f:
        f.write("accents")
    long_dir = p(*(["d" * 60] * 3))
    os.makedirs(long_dir)
    with open(os.path.join(long_dir, "f" * 100), "w") as f:
        f.write("long path")
    return dest


def tree_manifest(root):
    """path -> (type, mode, uid, gid, size, content hash, link target, xattrs, rdev, link group)."""
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            kind = stat.S_IFMT(st.st_mode)
            digest, target, rdev = "", "", ""
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(full)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                rdev = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            xattrs = {}
            if not stat.S_ISLNK(st.st_mode):
                for k in sorted(os.listxattr(full, follow_symlinks=False)):
                    xattrs[k] = os.getxattr(full, k, follow_symlinks=False).hex()
            out[rel] = [kind, oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid,
                        st.st_size if stat.S_ISREG(st.st_mode) else 0, digest, target,
                        xattrs, rdev]
    for paths in inodes.values():
        for rel in paths:
            out[rel].append(sorted(paths))
    return out


def comparable_tree(manifest):
    """A tree manifest without what a capture never carries: instance-specific files and the
    contents of the runtime's mount points."""
    out = {}
    for path, entry in manifest.items():
        top = path.split("/")[0]
        if path in ("etc/hostname", "etc/hosts", "etc/resolv.conf") or top == ".kiln":
            continue
        if path.startswith("var/lib/kiln-init") or (top in ("proc", "sys", "dev") and "/" in path):
            continue
        out[path] = entry
    return out


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_test_ca(dest):
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl), as a private
    registry would have. Returns (ca_cert, server_cert, server_key)."""
    os.makedirs(dest, exist_ok=True)
    p = lambda n: os.path.join(dest, n)
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    openssl = require_tool("openssl")
    run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=kiln test CA",
        "-keyout", p("ca.key"), "-out", p("ca.crt"))
    run(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", p("server.key"), "-out", p("server.csr"))
    with open(p("ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run(openssl, "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
        "-CAcreateserial", "-days", "2", "-extfile", p("ext.cnf"), "-out", p("server.crt"))
    return p("ca.crt"), p("server.crt"), p("server.key")


class Registry:
    """A real CNCF distribution registry (Debian's docker-registry) on loopback, with optional
    htpasswd basic auth and TLS. Its storage is a plain directory tests may inspect or damage."""

    def __init__(self, workdir, users=None, tls=None, token=None):
        self.dir, self.token = workdir, token
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.storage = os.path.join(workdir, "storage")
        self.users, self.tls, self.proc = users, tls, None

    def start(self):
        os.makedirs(self.storage, exist_ok=True)
        cfg = ["version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:",
               f"    rootdirectory: {self.storage}", "  delete:", "    enabled: true",
               "http:", f"  addr: {self.host}"]
        if self.tls:
            cert, key = self.tls
            cfg += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if self.users:
            htpasswd = os.path.join(self.dir, "htpasswd")
            open(htpasswd, "w").close()
            for user, pw in self.users.items():
                subprocess.run([require_tool("htpasswd"), "-bB", htpasswd, user, pw], check=True,
                               capture_output=True)
            cfg += ["auth:", "  htpasswd:", "    realm: kiln-test", f"    path: {htpasswd}"]
        if self.token:  # a TokenServer: bearer tokens (JWT) it signs
            cfg += ["auth:", "  token:", f"    realm: {self.token.realm}",
                    f"    service: {self.token.service}", f"    issuer: {self.token.issuer}",
                    f"    rootcertbundle: {self.token.cert}"]
        path = os.path.join(self.dir, "config.yml")
        with open(path, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.log = os.path.join(self.dir, "registry.log")
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen([require_tool("docker-registry"), "serve", path],
                                         stdout=logf, stderr=logf)
        import socket
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("docker-registry exited: " + open(self.log).read()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("docker-registry did not come up")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def put_blob(self, repo, data):
        """Uploads a blob by hand (the distribution API, one monolithic PUT): nothing between
        the test and the registry can clean it up or check it. Returns its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        conn = http.client.HTTPConnection(self.host, timeout=30)
        conn.request("POST", f"/v2/{repo}/blobs/uploads/")
        r = conn.getresponse()
        r.read()
        assert r.status == 202, r.status
        loc = urllib.parse.urlparse(r.getheader("Location"))
        sep = "&" if loc.query else ""
        conn.request("PUT", f"{loc.path}?{loc.query}{sep}digest={digest}", body=data,
                     headers={"Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.status == 201, (r.status, digest)
        return digest

    def put_manifest(self, repo, ref, body, media_type):
        """Puts a manifest or index by hand under a tag or digest."""
        conn = http.client.HTTPConnection(self.host, timeout=30)
        conn.request("PUT", f"/v2/{repo}/manifests/{ref}", body=body,
                     headers={"Content-Type": media_type})
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.status == 201, (r.status, ref)

    def blob_data(self, digest):
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.storage, "docker", "registry", "v2", "blobs", "sha256", hexd[:2],
                            hexd, "data")


class TokenServer:
    """The token service of the registry's bearer auth (the docker/distribution token spec):
    checks Basic credentials and answers with a JWT (RS256, signed with openssl) granting what the
    scope asks for; anonymous callers get no access."""

    service, issuer = "kiln-test-registry", "kiln-test-issuer"

    def __init__(self, workdir, users):
        import base64
        import http.server
        import threading
        os.makedirs(workdir, exist_ok=True)
        self.key, self.cert = os.path.join(workdir, "token.key"), os.path.join(workdir, "token.crt")
        openssl = require_tool("openssl")
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=kiln token issuer", "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True)
        der = subprocess.run([openssl, "x509", "-in", self.cert, "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.requests = []
        server = self
        b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()

        def sign(claims):
            header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
            body = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())
            sig = subprocess.run([openssl, "dgst", "-sha256", "-sign", self.key], input=body.encode(),
                                 check=True, capture_output=True).stdout
            return body + "." + b64u(sig)

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                from urllib.parse import parse_qs, urlparse
                q = parse_qs(urlparse(self.path).query)
                user = None
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if users.get(u) != p:
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = u
                server.requests.append({"user": user, "scope": q.get("scope", [])})
                access = []
                for scope in q.get("scope", []):
                    kind, name, actions = scope.split(":")
                    if user:
                        access.append({"type": kind, "name": name, "actions": actions.split(",")})
                now = int(time.time())
                token = sign({"iss": server.issuer, "sub": user or "", "aud": server.service,
                              "exp": now + 300, "nbf": now - 10, "iat": now,
                              "jti": os.urandom(8).hex(), "access": access})
                body = json.dumps({"token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
