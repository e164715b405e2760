"""Writes safetensors files without the safetensors package, for the golden
scripts and scripts/merge_identical.sh: the 8-byte little-endian length of
the JSON header (padded with spaces to a multiple of 8), the header, then the
raw little-endian data of each tensor in order."""
import json
import struct


def write(path, entries, metadata=None):
    """entries: (name, dtype such as "F32", shape, raw bytes), in file order."""
    header = {} if metadata is None else {"__metadata__": metadata}
    blobs, off = [], 0
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)
