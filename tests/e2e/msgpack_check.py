"""Decoding xacct's msgpack payloads in test assertions (Debian's
python3-msgpack; the product itself uses msgpack-c)."""
import msgpack


def decode_map(data):
    return msgpack.unpackb(data, raw=False)
