"""Bad input gets a clear error, a non-zero exit, and changes nothing anywhere."""
import gzip
import hashlib
import io
import json
import os
import tarfile

from kiln_harness import KilnTestCase, make_busybox_rootfs


def tar_bytes(entries, compress=None):
    """entries: (name, kind, payload) with kind file|dir|symlink|hardlink|chr|blk."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = payload if isinstance(payload, bytes) else payload.encode()
                info.size = len(data)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind in ("chr", "blk"):
                info.type = tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE
                info.devmajor, info.devminor = payload
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    return gzip.compress(raw) if compress == "gz" else raw


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def oci_layout(layer, layer_type="application/vnd.oci.image.layer.v1.tar", tamper=None,
               drop=None, manifest_type="application/vnd.oci.image.manifest.v1+json"):
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": manifest_type,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": layer_type, "digest": sha(layer), "size": len(layer)}]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": manifest_type, "digest": sha(manifest), "size": len(manifest)}]}).encode()
    blobs = {"manifest": manifest, "config": cfg, "layer": layer}
    entries = [("oci-layout", "file", b'{"imageLayoutVersion":"1.0.0"}'),
               ("index.json", "file", index)]
    for role, content in blobs.items():
        if role == drop:
            continue
        stored = tamper(content) if role == "layer" and tamper else content
        entries.append(("blobs/sha256/" + sha(content)[7:], "file", stored))
    return tar_bytes(entries)


GOOD_LAYER = tar_bytes([("etc", "dir", None), ("etc/hostname", "file", "x\n")])


class BadInputTest(KilnTestCase):

    def setUp(self):
        super().setUp()
        # An earlier image that every failure must leave intact.
        self.kiln("image", "import", make_busybox_rootfs(self.path("rootfs")), "--name", "base")
        self.before = self.store_state()
        self.sentinel_dir = self.path("outside")
        os.makedirs(self.sentinel_dir)

    def check_refused(self, data, words, code=2, name="bad", extra=()):
        src = self.path("input.bin")
        with open(src, "wb") as f:
            f.write(data)
        line = self.assert_fails_cleanly(["image", "import", src, "--name", name, *extra], code,
                                         words)
        self.assertEqual(self.store_state(), self.before, line)
        self.assertEqual(os.listdir(self.sentinel_dir), [])
        return line

    def test_path_traversal_and_escapes(self):
        cases = {
            "dotdot": ([("../outside/evil", "file", "x")], '".."'),
            "absolute": ([(self.sentinel_dir + "/evil", "file", "x")], "absolute path"),
            "symlink-out": ([("link", "symlink", "../../../../outside")], "outside the root"),
            "symlink-then-write": ([("link", "symlink", self.sentinel_dir),
                                    ("link/evil", "file", "x")], "is a symlink"),
            "hardlink-out": ([("h", "hardlink", "../../etc/shadow")], "outside the root"),
            "hardlink-through-symlink": ([("l", "symlink", "/etc"), ("h", "hardlink", "l/shadow")],
                                         "through a symlink"),
            "block-device": ([("dev", "dir", None), ("dev/sda", "blk", (8, 0))], "not allowed"),
            "whiteout-dotdot": ([("a/.wh..", "file", "")], "whiteout"),
        }
        for name, (entries, word) in cases.items():
            with self.subTest(name):
                line = self.check_refused(tar_bytes(entries), ["unsafe archive entry", word])
                self.assertIn(entries[-1][0].split("/")[-1], line)

    def test_api_bodies_of_the_wrong_shape_are_400_naming_the_field(self):
        cases = [
            ("/v1/instances", {"image": 5}, '"image"'),
            ("/v1/instances", {"image": "base", "name": 7}, '"name"'),
            ("/v1/instances", {"image": "base", "count": "3"}, '"count"'),
            ("/v1/instances", {"image": "base", "env": "A=1"}, '"env"'),
            ("/v1/images", {"instance": 5}, '"instance"'),
            ("/v1/images", {"instance": "x", "flatten": "yes"}, '"flatten"'),
            ("/v1/images", {"instance": "x", "tags": {"a": 1}}, '"tags"'),
            ("/v1/images/base/tags", {"remove": "a"}, '"remove"'),
            ("/v1/images/verify", {"image": True}, '"image"'),
            ("/v1/instances/x/snapshots", {"name": {}}, '"name"'),
            ("/v1/instances/x/restore", {"snapshot": 1}, '"snapshot"'),
            ("/v1/images/pull", {"reference": "localhost:1/a:b", "parallel": 0}, '"parallel"'),
            ("/v1/images/base/push", {"destination": "localhost:1/a:b", "tls_verify": "no"},
             '"tls_verify"'),
            ("/v1/registry/login", {"registry": ["r"]}, '"registry"'),
            ("/v1/instances", [], "JSON object"),
            ("/v1/images", "{", "JSON object"),
        ]
        for path, body, word in cases:
            with self.subTest(path=path, body=body):
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                status, reply = self.api("POST", path, raw)
                self.assertEqual(status, 400, reply)
                self.assertEqual(reply["error"]["code"], "InvalidArgument")
                self.assertIn(word, reply["error"]["message"])
        self.assertEqual(self.store_state(), self.before)
        self.assertEqual(self.kiln_json("ls"), [])

    def test_damaged_archives(self):
        good = tar_bytes([("f", "file", os.urandom(200000))], "gz")
        self.check_refused(good[: len(good) // 2], ["gzip"], code=5)
        corrupt = bytearray(good)
        corrupt[len(corrupt) // 2] ^= 0xFF
        self.check_refused(bytes(corrupt), [], code=5)
        plain = tar_bytes([("f", "file", os.urandom(200000))])
        self.check_refused(plain[:100000], ["archive"], code=5)
        self.check_refused(b"hello, this is not an archive" * 40, ["tar archive"], code=5)
        self.check_refused(b"", ["empty"])

    def test_bad_oci_layouts(self):
        self.check_refused(oci_layout(GOOD_LAYER, tamper=lambda b: b[:-1] + b"X"),
                           ["does not match its digest"], code=5)
        self.check_refused(oci_layout(GOOD_LAYER, drop="config"), ["missing from the archive"])
        self.check_refused(oci_layout(GOOD_LAYER, layer_type="application/vnd.example.lz4"),
                           ["unsupported media type", "lz4"])
        self.check_refused(oci_layout(GOOD_LAYER, manifest_type="application/vnd.example+json"),
                           ["unsupported manifest media type"])
        # A layout whose one layer is itself unsafe.
        evil = tar_bytes([("../evil", "file", "x")])
        self.check_refused(oci_layout(evil), ["layer 1", "unsafe archive entry"])
        # The layout is fine: proves the generator itself is right.
        src = self.path("ok.tar")
        with open(src, "wb") as f:
            f.write(oci_layout(GOOD_LAYER))
        self.kiln("image", "import", src, "--name", "ok")

    def test_invalid_names_and_unknown_ids(self):
        with open(self.path("ok.tar"), "wb") as f:
            f.write(GOOD_LAYER)
        for bad in ["", "a/b", "../x", "-x", "x" * 129, "ami-0123456789abcdef0", "sp ace"]:
            with self.subTest(bad):
                self.assert_fails_cleanly(["image", "import", self.path("ok.tar"), "--name", bad],
                                          2, ["invalid image name"])
        self.assert_fails_cleanly(["image", "import", self.path("ok.tar"), "--name", "base"], 4,
                                  ["already exists"])
        self.assert_fails_cleanly(["image", "import", self.path("missing.tar"), "--name", "m"], 3,
                                  ["missing.tar"])
        self.assert_fails_cleanly(["image", "inspect", "ami-00000000000000000"], 3, ["no image"])
        self.assert_fails_cleanly(["image", "rm", "nope"], 3, ["no image"])
        self.assert_fails_cleanly(["image", "export", "nope", "-o", self.path("x.tar")], 3,
                                  ["no image"])
        self.assertFalse(os.path.exists(self.path("x.tar")))
        self.assertFalse(os.path.exists(self.path("x.tar.kiln-partial")))
        self.assertEqual(self.store_state(), self.before)

    def test_ref_on_rootfs_is_refused(self):
        self.check_refused(GOOD_LAYER, ["--ref"], extra=["--ref", "v1"])
