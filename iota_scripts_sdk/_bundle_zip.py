"""The zip side of bundles: safe names, sizes and inflation (see ``bundle.py``).

:class:`Archive` lists a zip's entries and refuses, before reading any, an
unsafe or duplicate name, too many entries, or declared sizes over the
limits; :meth:`Archive.read` inflates one entry itself, with a cap, so that
an entry whose header lies about its size (a zip bomb) stops at the cap.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .bundle import BundleLimits


def _error(code: str, message: str) -> Exception:
    from .bundle import BundleError

    return BundleError(code, message)


def unsafe_name(name: str) -> bool:
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return True
    if re.match(r"^[A-Za-z]:", name):
        return True
    return any(part in ("", ".", "..") for part in name.split("/"))


class Archive:
    """The checked entries of a zip: names safe and unique, sizes within the limits."""

    def __init__(self, data: bytes, limits: BundleLimits) -> None:
        self.limits = limits
        self.data = data
        self.total = 0
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError):
            raise _error("not_a_zip", "the file is not a zip archive") from None
        if len(infos) > limits.max_entries:
            raise _error(
                "too_many_entries",
                f"{len(infos)} entries; at most {limits.max_entries} are allowed",
            )
        self.infos: dict[str, zipfile.ZipInfo] = {}
        declared = 0
        for info in infos:
            name = info.filename
            if unsafe_name(name):
                raise _error("unsafe_path", f"unsafe entry name {name[:200]!r}")
            if name in self.infos:
                raise _error("duplicate_entry", f"the entry {name!r} appears twice")
            if info.file_size > limits.max_entry_bytes:
                raise _error(
                    "entry_too_large",
                    f"{name} declares {info.file_size} bytes; at most "
                    f"{limits.max_entry_bytes} are allowed",
                )
            declared += info.file_size
            self.infos[name] = info
        if declared > limits.max_total_bytes:
            raise _error(
                "bundle_too_large",
                f"the entries declare {declared} bytes; at most {limits.max_total_bytes} "
                "are allowed",
            )

    def read(self, name: str) -> bytes:
        """The inflated bytes of ``name``, checked against its declared size and CRC.

        The compressed data is inflated here with a cap, not through
        ``ZipFile.open``: a zip bomb that declares 1 KiB and inflates to
        10 GiB stops at the cap (``entry_too_large``), whatever its header says.
        """
        info = self.infos.get(name)
        if info is None:
            raise _error("missing_entry", f"the entry {name} is missing")
        if info.flag_bits & 0x1 or info.compress_type not in (
            zipfile.ZIP_STORED,
            zipfile.ZIP_DEFLATED,
        ):
            raise _error(
                "corrupt_zip", f"{name} is encrypted or compressed with an unsupported method"
            )
        offset = info.header_offset
        header = self.data[offset : offset + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise _error("corrupt_zip", f"{name}: bad local header")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        start = offset + 30 + name_len + extra_len
        raw = self.data[start : start + info.compress_size]
        if len(raw) != info.compress_size:
            raise _error("corrupt_zip", f"{name} is truncated")
        cap = self.limits.max_entry_bytes
        if info.compress_type == zipfile.ZIP_STORED:
            out = raw
        else:
            inflater = zlib.decompressobj(-15)
            try:
                out = inflater.decompress(raw, cap + 1)
                if len(out) <= cap and not inflater.unconsumed_tail:
                    out += inflater.flush()
            except zlib.error as e:
                raise _error("corrupt_zip", f"{name} cannot be inflated: {e}") from None
            if len(out) <= cap and not inflater.eof:
                raise _error("corrupt_zip", f"{name}: the compressed data is truncated")
        if len(out) > cap:
            raise _error(
                "entry_too_large",
                f"{name} inflates to more than {cap} bytes (its header declares {info.file_size})",
            )
        if len(out) != info.file_size:
            code = "entry_too_large" if len(out) > info.file_size else "corrupt_zip"
            raise _error(
                code,
                f"{name} inflates to {len(out)} bytes; its header declares {info.file_size}",
            )
        if zlib.crc32(out) != info.CRC:
            raise _error("corrupt_zip", f"{name}: CRC mismatch")
        self.total += len(out)
        if self.total > self.limits.max_total_bytes:
            raise _error(
                "bundle_too_large",
                f"the entries inflate to more than {self.limits.max_total_bytes} bytes",
            )
        return out
