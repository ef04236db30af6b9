"""Importing every supported source and exporting OCI layouts that skopeo and umoci accept."""
import json
import os
import subprocess
import tarfile

from kiln_harness import (KILN, KilnTestCase, make_busybox_rootfs, make_rich_tree, require_tool,
                          tree_manifest)


def run(*args, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


class ImportExportTest(KilnTestCase):

    def rootfs(self):
        return make_busybox_rootfs(self.path("rootfs"))

    def umoci_unpack(self, layout_dir, ref, dest):
        require_tool("umoci")
        run("umoci", "unpack", "--image", f"{layout_dir}:{ref}", dest)
        return os.path.join(dest, "rootfs")

    def test_rootfs_tarballs_in_every_compression(self):
        src = self.rootfs()
        want = tree_manifest(src)
        for ext, flag in [("tar", ""), ("tar.gz", "z"), ("tar.zst", "--zstd")]:
            archive = self.path(f"rootfs.{ext}")
            cmd = ["tar", "-C", src, "-c", "-f", archive, "."]
            if flag == "z":
                cmd.insert(1, "-z")
            elif flag:
                cmd.insert(1, flag)
            run(*cmd)
            name = "bb-" + ext.replace(".", "-")
            out = self.kiln("image", "import", archive, "--name", name, "--description", "busybox")
            image_id = out.stdout.strip()
            self.assertRegex(image_id, r"^ami-[0-9a-f]{17}$")
            info = self.kiln_json("image", "inspect", name)
            self.assertEqual(info["id"], image_id)
            self.assertEqual(info["state"], "available")
            self.assertEqual(info["description"], "busybox")
            self.assertEqual(len(info["layers"]), 1)
            expected_type = {"tar": "tar", "tar.gz": "tar+gzip", "tar.zst": "tar+zstd"}[ext]
            self.assertTrue(info["layers"][0]["media_type"].endswith(expected_type))
            # The layer is the file as given, byte for byte.
            self.assertEqual(info["layers"][0]["size"], os.path.getsize(archive))
            lay = self.path(f"lay-{ext}")
            self.kiln("image", "export", name, "--format", "dir", "-o", lay)
            if ext == "tar.zst":
                # umoci 0.4.7 cannot read zstd layers: let skopeo recompress them as gzip.
                run(require_tool("skopeo"), "copy", "--dest-compress-format", "gzip", "--dest-compress",
                    f"oci:{lay}:{name}",
                    f"oci:{lay}-plain:{name}")
                lay += "-plain"
            got = self.umoci_unpack(lay, name, self.path(f"b-{ext}"))
            self.assertEqual(tree_manifest(got), want)
        listing = self.kiln("image", "ls").stdout
        for name in ["bb-tar", "bb-tar-gz", "bb-tar-zst"]:
            self.assertIn(name, listing)
        self.assertIn("ID", listing.splitlines()[0])

    def test_directory_tree_round_trips_exactly_through_umoci(self):
        src = make_rich_tree(self.path("tree"))
        want = tree_manifest(src)
        self.kiln("image", "import", src, "--name", "rich")
        self.kiln("image", "export", "rich", "-o", self.path("rich.tar"))
        os.makedirs(self.path("lay"))
        with tarfile.open(self.path("rich.tar")) as t:
            t.extractall(self.path("lay"))
        got = self.umoci_unpack(self.path("lay"), "rich", self.path("bundle"))
        self.assertEqual(tree_manifest(got), want)

    def test_export_is_accepted_by_skopeo(self):
        skopeo = require_tool("skopeo")
        src = self.rootfs()
        image_id = self.kiln("image", "import", src, "--name", "bb").stdout.strip()
        info = self.kiln_json("image", "inspect", image_id)
        self.kiln("image", "export", "bb", "-o", self.path("bb.tar"))
        insp = json.loads(run(skopeo, "inspect", f"oci-archive:{self.path('bb.tar')}").stdout)
        self.assertEqual(insp["Digest"], info["manifest_digest"])
        self.assertEqual(insp["Layers"], [l["digest"] for l in info["layers"]])
        run(skopeo, "copy", f"oci-archive:{self.path('bb.tar')}", f"oci:{self.path('copy')}:bb")
        got = self.umoci_unpack(self.path("copy"), "bb", self.path("bundle"))
        self.assertEqual(tree_manifest(got), tree_manifest(src))

    def build_two_layer_layout(self):
        """An OCI layout made by umoci alone: a base layer, then a layer deleting and adding."""
        require_tool("umoci")
        lay, bundle = self.path("umoci-layout"), self.path("umoci-bundle")
        run("umoci", "init", "--layout", lay)
        run("umoci", "new", "--image", f"{lay}:app")
        run("umoci", "unpack", "--image", f"{lay}:app", bundle)
        make_busybox_rootfs(os.path.join(bundle, "rootfs"))
        os.makedirs(os.path.join(bundle, "rootfs", "opt", "old"))
        with open(os.path.join(bundle, "rootfs", "opt", "old", "file"), "w") as f:
            f.write("old")
        run("umoci", "repack", "--image", f"{lay}:app", bundle)
        run("rm", "-rf", bundle)
        run("umoci", "unpack", "--image", f"{lay}:app", bundle)
        run("rm", "-rf", os.path.join(bundle, "rootfs", "opt", "old"))
        os.remove(os.path.join(bundle, "rootfs", "etc", "os-release"))
        with open(os.path.join(bundle, "rootfs", "etc", "added"), "w") as f:
            f.write("new")
        run("umoci", "repack", "--image", f"{lay}:app", bundle)
        run("umoci", "tag", "--image", f"{lay}:app", "other")
        expected = tree_manifest(os.path.join(bundle, "rootfs"))
        return lay, expected

    def layout_manifest(self, lay, ref):
        with open(os.path.join(lay, "index.json")) as f:
            index = json.load(f)
        for m in index["manifests"]:
            if m["annotations"]["org.opencontainers.image.ref.name"] == ref:
                with open(os.path.join(lay, "blobs", "sha256", m["digest"].split(":")[1])) as f:
                    return m["digest"], json.load(f)
        raise AssertionError(ref)

    def test_multi_layer_oci_layout_keeps_digests_and_whiteouts(self):
        lay, expected = self.build_two_layer_layout()
        digest, manifest = self.layout_manifest(lay, "app")
        self.assertEqual(len(manifest["layers"]), 2)
        # The layout holds two refs: without --ref the import asks which.
        self.assert_fails_cleanly(["image", "import", lay, "--name", "x"], 2, ["--ref"])
        self.assert_fails_cleanly(["image", "import", lay, "--name", "x", "--ref", "nope"], 3,
                                  ["nope"])
        # As a directory, and as a tar (oci-archive).
        self.kiln("image", "import", lay, "--name", "app-dir", "--ref", "app")
        run("tar", "-C", lay, "-cf", self.path("app.tar"), ".")
        self.kiln("image", "import", self.path("app.tar"), "--name", "app-tar", "--ref", "app")
        for name in ["app-dir", "app-tar"]:
            info = self.kiln_json("image", "inspect", name)
            self.assertEqual(info["manifest_digest"], digest)
            self.assertEqual([l["digest"] for l in info["layers"]],
                             [l["digest"] for l in manifest["layers"]])
        self.kiln("image", "export", "app-tar", "--format", "dir", "-o", self.path("out"))
        got = self.umoci_unpack(self.path("out"), "app-tar", self.path("bundle2"))
        self.assertEqual(tree_manifest(got), expected)
        self.assertFalse(os.path.exists(os.path.join(got, "opt", "old")))

    def test_docker_archive_and_zstd_layout_from_skopeo(self):
        skopeo = require_tool("skopeo")
        lay, expected = self.build_two_layer_layout()
        run(skopeo, "copy", f"oci:{lay}:app", f"docker-archive:{self.path('d.tar')}:kiln/app:v1")
        self.kiln("image", "import", self.path("d.tar"), "--name", "from-docker")
        run(skopeo, "copy", "--dest-compress-format", "zstd", "--dest-compress", f"oci:{lay}:app",
            f"oci-archive:{self.path('z.tar')}:app")
        self.kiln("image", "import", self.path("z.tar"), "--name", "from-zstd")
        _, manifest = self.layout_manifest(lay, "app")
        with open(os.path.join(lay, "blobs", "sha256",
                               manifest["config"]["digest"].split(":")[1])) as f:
            diff_ids = json.load(f)["rootfs"]["diff_ids"]
        for name in ["from-docker", "from-zstd"]:
            info = self.kiln_json("image", "inspect", name)
            self.assertEqual([l["diff_id"] for l in info["layers"]], diff_ids, name)
            self.kiln("image", "export", name, "--format", "dir", "-o", self.path("o-" + name))
            run(skopeo, "inspect", f"oci:{self.path('o-' + name)}:{name}")
        zinfo = self.kiln_json("image", "inspect", "from-zstd")
        self.assertTrue(all(l["media_type"].endswith("+zstd") for l in zinfo["layers"]))
        # umoci 0.4.7 cannot read zstd; the uncompressed docker layers it can.
        got = self.umoci_unpack(self.path("o-from-docker"), "from-docker", self.path("b3"))
        self.assertEqual(tree_manifest(got), expected)

    def test_tags_rm_gc_and_stdin(self):
        src = self.rootfs()
        run("tar", "-C", src, "-czf", self.path("r.tgz"), ".")
        with open(self.path("r.tgz"), "rb") as f:
            r = subprocess.run([KILN, "--socket", self.socket, "image", "import", "-", "--name", "a",
                                "--tag", "env=prod"], stdin=f, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.kiln("image", "import", src, "--name", "b")
        tags = self.kiln_json("image", "tag", "a", "owner=ops", "tier=web")
        self.assertEqual(tags, {"env": "prod", "owner": "ops", "tier": "web"})
        tags = self.kiln_json("image", "tag", "a", "--remove", "tier")
        self.assertEqual(tags, {"env": "prod", "owner": "ops"})
        self.assert_fails_cleanly(["image", "tag", "a", "kiln:x=1"], 2, ["reserved"])
        self.assert_fails_cleanly(["image", "tag", "nope", "k=v"], 3, ["nope"])
        blobs_before = set(os.listdir(os.path.join(self.root, "blobs", "sha256")))
        a = self.kiln_json("image", "inspect", "a")
        self.kiln("image", "rm", "a")
        self.assert_fails_cleanly(["image", "inspect", "a"], 3, ["no image"])
        gc = self.kiln_json("gc")
        self.assertEqual(gc["removed_blobs"], 3)
        blobs_after = set(os.listdir(os.path.join(self.root, "blobs", "sha256")))
        self.assertEqual(blobs_before - blobs_after,
                         {d.split(":")[1] for d in [a["manifest_digest"], a["config_digest"],
                                                    a["layers"][0]["digest"]]})
        self.assertIn("verified 1 images", self.kiln("image", "verify").stdout)
        self.assertEqual(self.kiln_json("gc")["removed_blobs"], 0)

    def test_shared_layers_are_stored_once(self):
        src = self.rootfs()
        run("tar", "-C", src, "-cf", self.path("r.tar"), ".")
        self.kiln("image", "import", self.path("r.tar"), "--name", "one")
        n = len(os.listdir(os.path.join(self.root, "blobs", "sha256")))
        self.kiln("image", "import", self.path("r.tar"), "--name", "two")
        # Same layer and config; the manifest differs only by its created annotation (or not).
        self.assertLessEqual(len(os.listdir(os.path.join(self.root, "blobs", "sha256"))), n + 2)
        one, two = (self.kiln_json("image", "inspect", n) for n in ["one", "two"])
        self.assertEqual(one["layers"], two["layers"])
        self.assertNotEqual(one["id"], two["id"])
