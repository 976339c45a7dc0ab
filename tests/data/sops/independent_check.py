#!/usr/bin/env python3
"""Independent SOPS reader for mlsync's interoperability test.

Reads a flat SOPS YAML file written by mlsync WITHOUT using mlsync code: unwraps the data key
from each `sops.age[].enc` stanza with the real `age` CLI, decrypts every value with
AES-256-GCM (32-byte IV, AAD "KEY:") using python `cryptography`, recomputes the SOPS MAC
(SHA-512 over the values in order, upper-case hex) and compares it with the stored MAC
(decrypted with `lastmodified` as AAD). Prints JSON {"values": {KEY: [type, text]}, ...}.

Usage: independent_check.py SOPS_FILE AGE_IDENTITY_FILE
"""
import base64
import hashlib
import json
import re
import subprocess
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENC = re.compile(r"^ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:(.*)\]$")


def unquote(v):
    if v.startswith("'") and v.endswith("'"):
        return v[1:-1].replace("''", "'")
    if v.startswith('"'):
        return json.loads(v)
    return v


def parse(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    data, meta, stanzas = [], {}, []
    i = 0
    while i < len(lines) and lines[i] != "sops:":
        if lines[i]:
            key, _, val = lines[i].partition(": ")
            data.append((key, val))
        i += 1
    i += 1
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^ {2,4}(?:- )?(\w+): ?(.*)$", line)
        if m and m.group(1) == "enc" and m.group(2) == "|":
            block = []
            i += 1
            while i < len(lines) and lines[i].startswith("      "):
                block.append(lines[i].strip())
                i += 1
            stanzas.append("\n".join(block) + "\n")
            continue
        if m:
            meta[m.group(1)] = unquote(m.group(2))
        i += 1
    return data, meta, stanzas


def decrypt(value, key, aad):
    m = ENC.match(value)
    if not m:
        raise SystemExit(f"not an ENC value: {aad}")
    data, iv, tag = (base64.b64decode(m.group(n)) for n in (1, 2, 3))
    plain = AESGCM(key).decrypt(iv, data + tag, aad.encode())
    return m.group(4), plain


def main():
    path, identity = sys.argv[1], sys.argv[2]
    data, meta, stanzas = parse(path)
    key = None
    for stanza in stanzas:
        r = subprocess.run(["age", "-d", "-i", identity], input=stanza.encode(),
                           capture_output=True)
        if r.returncode == 0:
            key = r.stdout
            break
    if key is None or len(key) != 32:
        raise SystemExit("age CLI could not unwrap a 32-byte data key")
    digest = hashlib.sha512()
    values = {}
    for name, raw in data:
        if raw == "null":
            values[name] = ["null", ""]
            continue
        raw = unquote(raw)
        if raw == "":
            values[name] = ["str", ""]
            continue
        typ, plain = decrypt(raw, key, name + ":")
        digest.update(plain)
        values[name] = [typ, plain.decode()]
    _, stored = decrypt(meta["mac"], key, meta["lastmodified"])
    computed = digest.hexdigest().upper()
    print(json.dumps({"values": values, "mac_ok": stored.decode() == computed,
                      "recipients": len(stanzas)}))


main()
