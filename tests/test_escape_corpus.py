"""The escape corpus: tar entries and symlink/hardlink tricks known from container CVEs (tar-slip,
symlink-then-write, hardlinks out, `..` in whiteouts, absolute link targets, tricks split across
layers), fed to every door an image comes in by: import (rootfs tarball and multi-layer OCI
layout), pull from a registry, then launch and `kiln cp`. None may write, delete or read outside
its root; what is refused changes nothing.

Each entry names the host paths it aims at through the placeholders {out} (absolute) and {rel}
(relative to /) of a directory of sentinel files outside every root; after each case the sentinel directory must be exactly as it was.
"""
import hashlib
import json
import os
import shutil

from kiln_harness import KilnTestCase, make_busybox_rootfs, Registry, require_tool
from test_bad_input import sha, tar_bytes

# name -> (layers, outcome). Layers are lists of (path, kind, payload). outcome: "refused"
# (import and pull must fail, changing nothing) or "contained" (may be accepted; then the trick
# must land inside the instance).
CORPUS = {
    "tar-slip": ([[("../../../../{rel}/evil", "file", "x")]], "refused"),
    "tar-slip-nested": ([[("a/b/../../../{rel}/evil", "file", "x")]], "refused"),
    "absolute-path": ([[("{out}/evil", "file", "x")]], "refused"),
    "symlink-then-write": ([[("link", "symlink", "{out}"), ("link/evil", "file", "x")]],
                           "refused"),
    "dir-replaced-by-symlink-then-write": ([[("d", "dir", None), ("d", "symlink", "{out}"),
                                             ("d/evil", "file", "x")]], "refused"),
    "symlink-chain-then-write": ([[("a", "symlink", "."), ("b", "symlink", "a{out}"),
                                   ("b/evil", "file", "x")]], "refused"),
    "relative-symlink-out": ([[("up", "symlink", "../../../../../../{rel}")]], "refused"),
    "hardlink-out": ([[("h", "hardlink", "../../../../{rel}/secret")]], "refused"),
    "hardlink-absolute": ([[("h", "hardlink", "{out}/secret")]], "refused"),
    "hardlink-through-symlink": ([[("l", "symlink", "{out}"), ("h", "hardlink", "l/secret")]],
                                 "refused"),
    "whiteout-dotdot": ([[("a/.wh..", "file", "")]], "refused"),
    "whiteout-of-parent": ([[("a/.wh...", "file", "")]], "refused"),
    "whiteout-slip": ([[("../.wh.secret", "file", "")]], "refused"),
    "block-device": ([[("dev", "dir", None), ("dev/sda", "blk", (8, 0))]], "refused"),
    # Split across layers: each layer alone is fine; together they must still stay inside.
    "absolute-symlink-then-write-next-layer": (
        [[("link", "symlink", "{out}")], [("link/evil", "file", "x")]], "contained"),
    "absolute-symlink-then-whiteout-next-layer": (
        [[("link", "symlink", "{out}")], [("link/.wh.secret", "file", "")]], "contained"),
    "absolute-symlink-then-hardlink-next-layer": (
        [[("link", "symlink", "{out}")], [("h", "hardlink", "link/secret")]], "refused"),
    "opaque-dir-over-absolute-symlink": (
        [[("link", "symlink", "{out}")], [("link/.wh..wh..opq", "file", "")]], "contained"),
}


def layout_blobs(layers, arch="amd64"):
    """An OCI image (uncompressed layers): (manifest bytes, {digest: bytes})."""
    blobs = {sha(l): l for l in layers}
    cfg = json.dumps({"architecture": arch, "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": [sha(l) for l in layers]}}).encode()
    blobs[sha(cfg)] = cfg
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(l),
                    "size": len(l)} for l in layers]}).encode()
    return manifest, blobs


def layout_tar(layers):
    manifest, blobs = layout_blobs(layers)
    blobs[sha(manifest)] = manifest
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
         "size": len(manifest)}]}).encode()
    entries = [("oci-layout", "file", b'{"imageLayoutVersion":"1.0.0"}'),
               ("index.json", "file", index)]
    entries += [("blobs/sha256/" + d[7:], "file", b) for d, b in blobs.items()]
    return tar_bytes(entries)


def registry_upload(registry, repo, tag, layers, arch="amd64"):
    """Puts the image into the registry by hand (the distribution API), so that nothing between
    the test and the registry cleans the corpus up. Returns the manifest bytes."""
    manifest, blobs = layout_blobs(layers, arch)
    for data in blobs.values():
        registry.put_blob(repo, data)
    registry.put_manifest(repo, tag, manifest, "application/vnd.oci.image.manifest.v1+json")
    return manifest


def snapshot_dir(path):
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            data = b""
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as f:
                    data = f.read()
            out[os.path.relpath(full, path)] = (st.st_mode, st.st_nlink,
                                                hashlib.sha256(data).hexdigest())
    return out


class EscapeCorpusTest(KilnTestCase):

    def setUp(self):
        require_tool("runc")
        super().setUp()
        self.registry = Registry(self.path("registry")).start()
        self.addCleanup(self.registry.stop)
        self.kiln("image", "import", make_busybox_rootfs(self.path("rootfs")), "--name", "base")
        base = self.kiln_json("image", "inspect", "base")
        with open(os.path.join(self.root, "blobs", "sha256", base["layers"][0]["digest"][7:]),
                  "rb") as f:
            self.base_layer = f.read()
        self.out = self.path("OUT")
        os.makedirs(self.out)
        with open(os.path.join(self.out, "secret"), "w") as f:
            f.write("host secret\n")
        self.sentinel = snapshot_dir(self.out)

    def layers_for(self, spec):
        rel = os.path.relpath(self.out, "/")
        fix = lambda s: (s.replace("{rel}", rel).replace("{out}", self.out)
                         if isinstance(s, str) else s)
        return [tar_bytes([(fix(p), k, fix(v)) for p, k, v in layer]) for layer in spec]

    def assert_outside_untouched(self, case):
        self.assertEqual(snapshot_dir(self.out), self.sentinel, case)

    def test_every_door(self):
        results = {}
        for n, (case, (spec, outcome)) in enumerate(CORPUS.items()):
            with self.subTest(case):
                layers = self.layers_for(spec)
                before = self.store_state()
                doors = {}
                # Door 1: a rootfs tarball (single-layer cases) or an OCI layout tar.
                src = self.path(f"{case}.tar")
                with open(src, "wb") as f:
                    f.write(layers[0] if len(layers) == 1 else layout_tar(layers))
                doors["import"] = self.kiln("image", "import", src, "--name", f"i{n}", ok=None)
                # Door 2: the same image, on top of a real base layer, from a registry.
                registry_upload(self.registry, f"corpus/c{n}", "v1",
                                [self.base_layer] + layers)
                doors["pull"] = self.kiln("image", "pull", f"{self.registry.host}/corpus/c{n}:v1",
                                          "--name", f"p{n}", ok=None)
                self.assert_outside_untouched(case)
                if outcome == "refused":
                    for door, r in doors.items():
                        self.assertNotEqual(r.returncode, 0, f"{door} accepted {case}")
                        self.assertIn("unsafe", r.stderr + r.stdout, f"{door}: {r.stderr}")
                    self.assertEqual(self.store_state(), before, case)
                    results[case] = "refused"
                    continue
                # Contained: whatever was accepted launches, and the trick stays inside.
                r = doors["pull"]
                self.assertEqual(r.returncode, 0, f"pull of {case}: {r.stderr}")
                iid = self.kiln("launch", f"p{n}", "--network", "none").stdout.strip()
                self.kiln("exec", iid, "--", "sh", "-c",
                          "ls -la /link/ || true; cat /link/evil /link/secret 2>/dev/null; true")
                # kiln cp through the absolute symlink: in and out, both inside the instance.
                with open(self.path("payload"), "w") as f:
                    f.write("from cp\n")
                if self.kiln("cp", self.path("payload"), f"{iid}:/link/", ok=None).returncode == 0:
                    self.assertEqual(self.kiln("exec", iid, "--", "cat", "/link/payload").stdout,
                                     "from cp\n")
                self.kiln("cp", f"{iid}:/link/secret", self.path("got"), ok=None)
                if os.path.exists(self.path("got")):
                    with open(self.path("got")) as f:
                        self.assertNotIn("host secret", f.read())
                    os.remove(self.path("got"))
                self.kiln("rm", "-f", iid)
                self.assert_outside_untouched(case)
                results[case] = "contained: " + ", ".join(
                    f"{d} {'accepted' if r.returncode == 0 else 'refused'}"
                    for d, r in doors.items())
        print("\nescape corpus:")
        for case, what in results.items():
            print(f"  {case:45} {what}")
        self.assertEqual(len(results), len(CORPUS))
        shutil.rmtree(self.path("registry", "storage"), ignore_errors=True)
