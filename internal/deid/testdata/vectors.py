#!/usr/bin/python3
"""Independent reference implementation of the keyed functions, for the
known-answer tests (written from the specifications, not from the Go code):

  legacy  SALT VALUE...  the original AIS-Edge Lua hook's hash
                         (docs/compat.md, "The legacy profile and its hash")
  hmac    SALT_HEX       HKDF sub-keys, KeyID, pseudonyms, UID remap and
                         date shifts (docs/deid.md: Keys, Pseudonyms,
                         UID remapping, Date shifting) for fixed inputs

Prints JSON.
"""
import base64
import hashlib
import hmac
import json
import sys


def legacy(salt, v):
    # H(v): bytes of SALT+"|"+v; h1=5381, h2=0; per byte c:
    # h1=(33*h1+c) mod 2^32, then h2=(31*h2+c+(h1 mod 256)) mod 2^32;
    # result: first 12 chars of upper-case %08X%08X.
    h1, h2 = 5381, 0
    for c in (salt + "|" + v).encode("utf-8"):
        h1 = (33 * h1 + c) % 2**32
        h2 = (31 * h2 + c + (h1 % 256)) % 2**32
    return ("%08X%08X" % (h1, h2))[:12]


def hkdf(ikm, salt, info, length=32):
    # RFC 5869 with SHA-256
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t
        i += 1
    return okm[:length]


def b32(b):
    return base64.b32encode(b).decode().rstrip("=")


def main():
    mode = sys.argv[1]
    if mode == "legacy":
        salt = sys.argv[2]
        print(json.dumps({v: legacy(salt, v) for v in sys.argv[3:]}, ensure_ascii=False))
        return
    m = bytes.fromhex(sys.argv[2])
    key = {x: hkdf(m, b"AIS-Edge deid v1", x.encode())
           for x in ("patient-id", "accession", "study-id", "uid", "date-shift", "ae", "key-id")}
    mac = lambda k, msg: hmac.new(key[k], msg, hashlib.sha256).digest()
    msg = lambda field, ns, v: b"v1\x1f" + field.encode() + b"\x1f" + ns.encode() + b"\x1f" + v.encode()
    out = {"keyId": b32(mac("key-id", b"key-id"))[:8], "pseudonyms": {}, "uids": {}, "shifts": {}, "ae": {}}
    for pid in ("MRN8675309", "1CT1", "Müller-001"):
        out["pseudonyms"]["PatientID/" + pid] = b32(mac("patient-id", msg("PatientID", "site:SITE1", pid)))[:16]
    out["pseudonyms"]["AccessionNumber/ACC20190304X"] = b32(mac("accession", msg("AccessionNumber", "site:SITE1", "ACC20190304X")))[:16]
    out["pseudonyms"]["accession-from-study/1.2.3.4"] = b32(mac("accession", msg("accession-from-study", "site:SITE1", "1.2.3.4")))[:16]
    for u in ("1.2.3.4", "1.2.826.0.1.3680043.9.7777.1.1.20190304101500"):
        b = bytearray(mac("uid", b"v1\x1f" + u.encode())[:16])
        b[6] = (b[6] & 0x0F) | 0x80
        b[8] = (b[8] & 0x3F) | 0x80
        out["uids"][u] = "2.25." + str(int.from_bytes(bytes(b), "big"))
    for pid in ("MRN8675309", "1CT1"):
        r = int.from_bytes(mac("date-shift", msg("PatientID", "site:SITE1", pid))[:8], "big")
        for lo, hi, week, direction in ((180, 1825, True, "past"), (30, 40, False, "future")):
            days = lo + r % (hi - lo + 1)
            if week:
                w = round(days / 7) * 7
                while w < lo:
                    w += 7
                days = w
            if direction == "past":
                days = -days
            out["shifts"]["%s/%d-%d/%s/%s" % (pid, lo, hi, week, direction)] = days
    out["ae"]["MRAE01PHI"] = "AE" + b32(mac("ae", b"MRAE01PHI"))[:14]
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
