#!/usr/bin/python3
# Writes N copies of a DICOM file, each with its own SOP Instance UID, for
# senders that read files (aisedge send) rather than invent UIDs (storescu
# +II). The new UID has the same length as the original, so every length
# field stays valid and the bytes otherwise equal the template's.
# usage: make_copies.py TEMPLATE OUTDIR N
import os, sys
import pydicom

tpl, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(out, exist_ok=True)
ds = pydicom.dcmread(tpl, stop_before_pixels=True)
uid = str(ds.SOPInstanceUID).encode()
data = open(tpl, 'rb').read()
if data.count(uid) < 1:
    sys.exit('SOP Instance UID not found in the file bytes')
k = len(str(max(n - 1, 1))) + 1
if len(uid) <= k + 2:
    sys.exit('UID too short to vary')
for i in range(n):
    new = uid[:len(uid) - k] + b'9' + str(i).zfill(k - 1).encode()
    assert len(new) == len(uid)
    with open(os.path.join(out, '%06d.dcm' % i), 'wb') as f:
        f.write(data.replace(uid, new))
print('%d copies of %s in %s' % (n, os.path.basename(tpl), out))
