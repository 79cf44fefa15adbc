"""Dump the text elements of pydicom's charset test files as JSON.

Used by TestPydicomCharsetFiles: for every *.dcm in the directory given as
argv[1], every PN, LO, SH, ST, LT, UC and UT element (at top level and in
sequence items, with the Specific Character Set in effect there) is written
with its raw value bytes (hex) and pydicom's decoded string. Multiple
values are joined with a backslash.
"""
import json
import os
import sys
import warnings

import pydicom
from pydicom.multival import MultiValue

TEXT_VRS = {"PN", "LO", "SH", "ST", "LT", "UC", "UT"}


def charset_value(ds, inherited):
    if "SpecificCharacterSet" not in ds:
        return inherited
    cs = ds.SpecificCharacterSet
    if isinstance(cs, (list, MultiValue)):
        return "\\".join(cs)
    return str(cs)


def walk(ds, inherited, path, out):
    cs = charset_value(ds, inherited)
    # get_item returns the undecoded RawDataElement; read all of them
    # before ds[tag] converts (and decodes) any element.
    raws = {tag: ds.get_item(tag) for tag in ds.keys()}
    for tag, raw in raws.items():
        elem = ds[tag]
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value):
                walk(item, cs, path + [f"{elem.keyword or tag}[{i}]"], out)
            continue
        if elem.VR not in TEXT_VRS or not isinstance(raw.value, bytes):
            continue
        value = elem.value
        if isinstance(value, (list, MultiValue)):
            decoded = "\\".join(str(v) for v in value)
        else:
            decoded = "" if value is None else str(value)
        out.append({
            "path": "/".join(path + [elem.keyword or str(tag)]),
            "tag": f"({tag.group:04X},{tag.element:04X})",
            "vr": elem.VR,
            "charset": cs,
            "raw": raw.value.hex(),
            "decoded": decoded,
        })


def main():
    warnings.simplefilter("ignore")
    directory = sys.argv[1]
    result = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".dcm"):
            continue
        ds = pydicom.dcmread(os.path.join(directory, name))
        elems = []
        walk(ds, "", [], elems)
        result.append({"file": name, "elements": elems})
    json.dump(result, sys.stdout, ensure_ascii=True, indent=1)


main()
