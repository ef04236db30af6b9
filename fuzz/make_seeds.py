#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/). Small valid inputs of
every kind each parser accepts, plus the known-bad shapes it must refuse; rerun after changing
it and commit the result."""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.mtime = 0
            data = e.get("data", b"")
            info.type = e.get("type", tarfile.REGTYPE)
            info.linkname = e.get("link", "")
            info.mode = e.get("mode", 0o644)
            if info.type == tarfile.REGTYPE:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return buf.getvalue()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def layers():
    ok = tar_bytes([{"name": "etc/", "type": tarfile.DIRTYPE, "mode": 0o755},
                    {"name": "etc/motd", "data": b"hello\n"},
                    {"name": "bin/sh", "type": tarfile.SYMTYPE, "link": "busybox"},
                    {"name": "etc/motd2", "type": tarfile.LNKTYPE, "link": "etc/motd"},
                    {"name": "etc/.wh.old", "data": b""},
                    {"name": "var/.wh..wh..opq", "data": b""}])
    bad = {
        "slip": [{"name": "../../etc/passwd", "data": b"x"}],
        "absolute": [{"name": "/etc/passwd", "data": b"x"}],
        "symlink-then-write": [{"name": "a", "type": tarfile.SYMTYPE, "link": "/etc"},
                               {"name": "a/passwd", "data": b"x"}],
        "hardlink-out": [{"name": "h", "type": tarfile.LNKTYPE, "link": "../../etc/shadow"}],
        "whiteout-dotdot": [{"name": "x/.wh...", "data": b""}],
    }
    return ok, {k: tar_bytes(v) for k, v in bad.items()}


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    ok, bad = layers()
    write("fuzz_layer_scan", "plain.tar", ok)
    write("fuzz_layer_scan", "gzip.tar.gz", gzip.compress(ok, mtime=0))
    zstd = subprocess.run(["zstd", "-q", "-c"], input=ok, capture_output=True, check=True).stdout
    write("fuzz_layer_scan", "zstd.tar.zst", zstd)
    write("fuzz_layer_scan", "gnu.tar", tar_bytes([{"name": "a" * 120, "data": b"long"}], tarfile.GNU_FORMAT))
    for k, v in bad.items():
        write("fuzz_layer_scan", f"bad-{k}.tar", v)

    diff_id = sha(ok)
    layer = gzip.compress(ok, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"],
                         "Entrypoint": ["/bin/sh"], "User": "0:0", "WorkingDir": "/"},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                         "history": [{"created_by": "seed"}]}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": sha(layer), "size": len(layer)}]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
         "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "seed"},
         "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    docker_manifest = json.loads(manifest)
    docker_manifest["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json"
    for name, doc in [("manifest.json", manifest), ("index.json", index), ("config.json", config),
                      ("docker-manifest.json", json.dumps(docker_manifest).encode()),
                      ("empty-object.json", b"{}"), ("deep.json", b"[" * 64 + b"]" * 64)]:
        write("fuzz_oci_json", name, doc)

    for name, text in [("ref-full", "localhost:5000/team/web:v1"), ("ref-hub", "busybox"),
                       ("ref-digest", "registry.example.com/a/b@sha256:" + "a" * 64),
                       ("ref-ipv6", "[::1]:5000/x:y"),
                       ("bearer", 'Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"'),
                       ("basic", 'Basic realm="x", Bearer realm="y", error=insufficient_scope'),
                       ("base64", "dXNlcjpwYXNz"), ("frame", "\x01\x00\x00\x00\x02hi\x03\x00\x00\x00\x010")]:
        write("fuzz_registry_text", name, text)

    for name, body in [
            ("launch", {"image": "base", "name": "web-{n}", "count": 3, "type": "small",
                        "env": ["A=1"], "network": "bridge", "publish": ["8080:80/tcp"],
                        "user_data": "#!/bin/sh\necho hi\n"}),
            ("create-image", {"instance": "web-1", "name": "web-v1", "consistency": "freeze",
                              "flatten": False, "tags": {"tier": "web"}}),
            ("create-from-snapshot", {"snapshot": "before", "name": "known-good"}),
            ("tags", {"set": {"owner": "ops"}, "remove": ["old"]}),
            ("snapshot", {"name": "before", "consistency": "stop"}),
            ("restore", {"snapshot": "before"}),
            ("exec-spec", {"args": ["sh", "-c", "true"], "env": ["A=1"], "cwd": "/", "user": "0:0"}),
            ("pull", {"reference": "localhost:5000/team/web:v1", "name": "web", "parallel": 4,
                      "tags": {"a": "b"}, "auth": {"username": "u", "password": "p"},
                      "tls_verify": True, "plain_http": False}),
            ("push", {"destination": "localhost:5000/team/web:v1", "compression": "zstd",
                      "ca_pem": "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n"}),
            ("login", {"registry": "localhost:5000", "auth": {"username": "u", "password": "p"}}),
            ("cmd", ["/bin/sh", "-l"]), ("wrong-types", {"image": 5, "count": "3", "env": "A"})]:
        write("fuzz_api_bodies", name + ".json", json.dumps(body))

    rootfs = ok
    layout = tar_bytes([
        {"name": "oci-layout", "data": b'{"imageLayoutVersion":"1.0.0"}'},
        {"name": "index.json", "data": index},
        {"name": "blobs/sha256/" + sha(manifest)[7:], "data": manifest},
        {"name": "blobs/sha256/" + sha(config)[7:], "data": config},
        {"name": "blobs/sha256/" + sha(layer)[7:], "data": layer}])
    docker = tar_bytes([
        {"name": "manifest.json", "data": json.dumps([{"Config": "config.json", "RepoTags": ["seed:1"],
                                                       "Layers": ["layer.tar"]}]).encode()},
        {"name": "config.json", "data": config},
        {"name": "layer.tar", "data": ok}])
    write("fuzz_import", "rootfs.tar", rootfs)
    write("fuzz_import", "oci-layout.tar", layout)
    write("fuzz_import", "docker-archive.tar", docker)
    write("fuzz_import", "slip.tar", bad["slip"])


if __name__ == "__main__":
    main()
