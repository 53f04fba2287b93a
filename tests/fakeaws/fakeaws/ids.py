"""Random bytes for the emulator's identifiers (request ids, key ids,
secrets, session tokens, receipt handles), from the kernel's CSPRNG in
blocks: one os.urandom call serves many ids instead of one or more per id."""
import os
import threading

_BLOCK = 4096
_buf = b""
_pos = 0
_lock = threading.Lock()  # a thread (the template URL fetch) may take ids too


def random_bytes(n):
    """`n` fresh random bytes, never handed out twice."""
    global _buf, _pos
    if n > _BLOCK // 4:
        return os.urandom(n)
    with _lock:
        if _pos + n > len(_buf):
            _buf, _pos = os.urandom(_BLOCK), 0
        out = _buf[_pos:_pos + n]
        _pos += n
    return out


def uuid4():
    """A random (version 4) UUID as text, like str(uuid.uuid4())."""
    b = bytearray(random_bytes(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
