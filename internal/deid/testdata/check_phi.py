#!/usr/bin/python3
"""Independent reader for the de-identification tests.

Reads every output file with pydicom (not with our codec), walks every
element at every depth (file meta, sequences, private elements), decodes
text with the file's Specific Character Set, and searches the planted
canary values in the decoded values and in the raw file bytes, in several
encodings (UTF-8, Latin-1, UTF-16LE and the input's character sets via
pydicom's own ISO 2022 encoder), case-insensitively, with separators
ignored for the decoded search.

usage: check_phi.py CANARIES.json FILE...
prints JSON {"files": {path: {"error": str|null, "hits": [str]}}}
"""
import json
import re
import sys
import unicodedata

import pydicom
from pydicom.charset import encode_string, convert_encodings

SEP = re.compile(r"[\^,.\-/_\s=\\]+")


def norm(s):
    return SEP.sub("", unicodedata.normalize("NFKC", s).lower())


TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH",
            "ST", "TM", "UC", "UI", "UR", "UT"}


def walk(ds, prefix, out_text, out_uids, out_bin):
    for elem in ds:
        path = prefix + "(%04X,%04X)" % (elem.tag.group, elem.tag.element)
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value):
                walk(item, "%s[%d]." % (path, i), out_text, out_uids, out_bin)
            continue
        if elem.tag == 0x7FE00010:
            continue
        val = elem.value
        if elem.VR in TEXT_VRS:
            vals = val if isinstance(val, (list, pydicom.multival.MultiValue)) else [val]
            for v in vals:
                if v is None:
                    continue
                s = str(v)
                out_text.append((path, s))
                if elem.VR == "UI":
                    out_uids.append((path, s))
        elif isinstance(val, (bytes, bytearray)):
            out_bin.append((path, bytes(val)))


def encodings_of(s, charsets):
    out = set()
    for enc in ("utf-8", "latin-1", "utf-16-le"):
        try:
            out.add(s.encode(enc).lower())
        except UnicodeEncodeError:
            pass
    for cs in charsets:
        terms = [t.strip() for t in cs.split("\\")]
        try:
            out.add(encode_string(s, convert_encodings(terms)).lower())
        except Exception:
            pass
    return {b for b in out if len(b) >= 3}


def check(path, can):
    ds = pydicom.dcmread(path)
    if ds.preamble != b"\x00" * 128:
        return ["preamble not zero"]
    if ds.file_meta.MediaStorageSOPInstanceUID != ds.SOPInstanceUID:
        return ["meta SOP Instance UID differs"]
    texts, uids, bins = [], [], []
    walk(ds.file_meta, "(meta)", texts, uids, bins)
    walk(ds, "", texts, uids, bins)
    normed = [(p, norm(s)) for p, s in texts]
    hits = []
    for name in can["names"]:
        n = norm(name)
        for p, v in normed:
            if n and n in v:
                hits.append("name %r in %s" % (name, p))
        for group in name.split("="):
            for comp in group.split("^"):
                if len(comp) >= 5:
                    c = norm(comp)
                    for p, v in normed:
                        if c in v:
                            hits.append("name part %r in %s" % (comp, p))
    for w in can["words"] + can["texts"]:
        n = norm(w)
        if len(n) < 3:
            continue
        for p, v in normed:
            if n in v:
                hits.append("word %r in %s" % (w, p))
    for d in can["dates"]:
        for p, v in normed:
            if d in v:
                hits.append("date %s in %s" % (d, p))
    for u in can["uids"]:
        for p, v in uids:
            if v == u:
                hits.append("uid %s at %s" % (u, p))
    raw = open(path, "rb").read()
    pix = ds.get("PixelData")
    if pix is not None and len(pix) > 0:
        raw = raw.replace(pix, b"")
    low = raw.lower()
    for s in can["names"] + can["words"] + can["texts"]:
        for enc in encodings_of(s, can["charsets"]):
            if enc in low:
                hits.append("raw bytes of %r" % s)
        for part in re.split(r"[\^=]", s):
            if len(part) >= 5:
                for enc in encodings_of(part, can["charsets"]):
                    if enc in low:
                        hits.append("raw bytes of %r" % part)
    for u in can["uids"]:
        if re.search(re.escape(u.encode()) + b"(?![0-9])", raw):
            hits.append("raw uid %s" % u)
    for d in can["dates"]:
        if re.search(b"(?<![0-9])" + d.encode(), raw):
            hits.append("raw date %s" % d)
    return sorted(set(hits))


def main():
    can = json.load(open(sys.argv[1]))
    for k in ("names", "words", "dates", "uids", "texts", "charsets"):
        can[k] = can.get(k) or []
    res = {}
    for path in sys.argv[2:]:
        try:
            res[path] = {"error": None, "hits": check(path, can)}
        except Exception as e:  # report, never crash: the Go test fails on it
            res[path] = {"error": "%s: %s" % (type(e).__name__, e), "hits": []}
    json.dump({"files": res}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
