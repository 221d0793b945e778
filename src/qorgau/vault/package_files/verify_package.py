#!/usr/bin/env python3
"""Verify a Qorgau evidence package with nothing but Python 3 and, optionally, openssl.

    python3 verify_package.py            (run inside the unpacked package folder)

Checks, and says which ones failed:
  1. every file listed in SHA256SUMS has that SHA-256 (the same check as `sha256sum -c`);
  2. every item's log entry names that file's hash, and the entry's Merkle inclusion proof leads
     to the root of the signed tree head (RFC 6962 / RFC 9162);
  3. the tree head's Ed25519 signature, with openssl (`openssl pkeyutl -verify`);
  4. the RFC 3161 timestamp on the tree head, with openssl (`openssl ts -verify`), if present.
Exit code 0 when everything holds, 1 otherwise. This script uses no Qorgau code on purpose:
anyone can read it in a few minutes and run it on a machine that never had Qorgau.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys


def leaf_hash(entry):
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    os.chdir(here)
    failures = []

    def fail(message):
        failures.append(message)
        print("FAIL  " + message)

    def ok(message):
        print("ok    " + message)

    # 1. file hashes
    with open("SHA256SUMS", encoding="utf-8") as fh:
        sums = [line.rstrip("\n").split("  ", 1) for line in fh if line.strip()]
    for digest, name in sums:
        try:
            with open(name, "rb") as f:
                actual = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            fail(name + ": missing")
            continue
        if actual == digest:
            ok(name + ": SHA-256 matches")
        else:
            fail(name + ": SHA-256 differs from SHA256SUMS (the file was changed)")

    # 2. inclusion in the signed tree
    with open("manifest.json", encoding="utf-8") as fh:
        manifest = json.load(fh)
    with open("tree-head.json", "rb") as fh:
        head_bytes = fh.read()
    head = json.loads(head_bytes)
    root = bytes.fromhex(head["root_hash"])
    size = head["tree_size"]
    for item in manifest["items"]:
        entry = item["leaf_entry"].encode("utf-8")
        logged = json.loads(entry)
        label = "item " + item["sha256"][:16]
        if logged.get("sha256") != item["sha256"]:
            fail(label + ": the log entry names another file")
            continue
        proof = [bytes.fromhex(p) for p in item["inclusion_proof"]]
        if verify_inclusion(leaf_hash(entry), item["leaf_index"], size, proof, root):
            ok(label + ": recorded in the vault log under the signed tree head")
        else:
            fail(label + ": inclusion proof does not lead to the signed root")

    # 3. signature, 4. timestamp (openssl)
    openssl = shutil.which("openssl")
    if openssl is None:
        print("note  openssl not found: signature and timestamp not checked")
    else:
        r = subprocess.run(
            [
                openssl,
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                "vault-public.pem",
                "-rawin",
                "-in",
                "tree-head.json",
                "-sigfile",
                "tree-head.sig",
            ],
            capture_output=True,
            text=True,
        )
        if r.returncode == 0:
            ok("tree head: Ed25519 signature verifies with vault-public.pem")
        else:
            fail("tree head: signature does not verify (" + (r.stdout + r.stderr).strip() + ")")
        if os.path.exists("tree-head.tst"):
            r = subprocess.run(
                [
                    openssl,
                    "ts",
                    "-verify",
                    "-data",
                    "tree-head.json",
                    "-in",
                    "tree-head.tst",
                    "-token_in",
                    "-CAfile",
                    "tsa-ca.pem",
                ],
                capture_output=True,
                text=True,
            )
            if r.returncode == 0:
                ok("tree head: RFC 3161 timestamp verifies")
            else:
                fail("tree head: timestamp does not verify (" + (r.stdout + r.stderr).strip() + ")")
        else:
            print("note  no timestamp in this package")
    print()
    print("RESULT: " + ("all checks passed" if not failures else str(len(failures)) + " failed"))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
