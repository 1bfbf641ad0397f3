"""XMP provenance packets (IPTC DigitalSourceType + facerig's own fields) in PNG, JPEG and MP4 files.

Writers: PNG as an iTXt chunk 'XML:com.adobe.xmp', JPEG as an APP1 segment with the XMP namespace
header, MP4 as a top-level 'uuid' box with the XMP UUID (the XMP specification's place for ISO BMFF
files). Readers parse those same places without any image library, so they also work on files
facerig did not write. The packet holds no date, so a labelled output stays byte-identical across
runs with the same inputs.
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET
from xml.sax.saxutils import quoteattr

IPTC_DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = IPTC_DST + "trainedAlgorithmicMedia"
COMPOSITE = IPTC_DST + "compositeWithTrainedAlgorithmicMedia"
ALGORITHMIC = IPTC_DST + "algorithmicMedia"   # 3DMM renders: made by an algorithm, no trained model
SYNTHETIC = (TRAINED, COMPOSITE, ALGORITHMIC)
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
NS_XMP = "http://ns.adobe.com/xap/1.0/"
NS_FACERIG = "urn:facerig:ns:provenance:1.0/"
PNG_XMP_KEY = b"XML:com.adobe.xmp"
JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PACKET = 1 << 20  # a provenance packet is small; refuse to parse megabytes of XML


class MetadataError(ValueError):
    """A file that claims a format but is not readable as one."""


@dataclass
class Provenance:
    """What facerig records about an output (and what a reader found)."""

    digital_source_type: str | None = None
    creator_tool: str | None = None
    generator: str | None = None
    bundle: str | None = None
    version: str | None = None
    command: str | None = None
    parameters: dict = field(default_factory=dict)
    labelled: bool = True
    watermark: str | None = None

    @property
    def synthetic(self) -> bool:
        """True when the IPTC source type says (trained) algorithmic media, alone or composited."""
        return self.digital_source_type in SYNTHETIC


def xmp_packet(prov: Provenance) -> bytes:
    """An XMP packet (UTF-8) carrying `prov`; opted-out files keep only the opt-out and the tool."""
    attrs = []
    if prov.labelled and prov.digital_source_type:
        attrs.append(f"Iptc4xmpExt:DigitalSourceType={quoteattr(prov.digital_source_type)}")
    if prov.creator_tool:
        attrs.append(f"xmp:CreatorTool={quoteattr(prov.creator_tool)}")
    fields = {"Version": prov.version, "Labelled": "True" if prov.labelled else "False",
              "Watermark": prov.watermark}
    if prov.labelled:
        fields.update({"Generator": prov.generator, "Bundle": prov.bundle, "Command": prov.command,
                       "Parameters": json.dumps(prov.parameters, sort_keys=True, default=str)})
    for key, value in fields.items():
        if value is not None:
            attrs.append(f"facerig:{key}={quoteattr(str(value))}")
    body = "\n    ".join(attrs)
    text = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f' <rdf:RDF xmlns:rdf="{NS_RDF}">\n'
        f'  <rdf:Description rdf:about="" xmlns:Iptc4xmpExt="{NS_IPTC_EXT}" xmlns:xmp="{NS_XMP}"\n'
        f'    xmlns:facerig="{NS_FACERIG}"\n    {body}/>\n'
        ' </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>'
    )
    return text.encode("utf-8")


def parse_xmp(packet: bytes) -> Provenance | None:
    """Provenance from an XMP packet (attributes or child elements); None when it says nothing."""
    if len(packet) > MAX_PACKET or b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return None
    text = packet.decode("utf-8", errors="replace")
    start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        start, end = text.find("<rdf:RDF"), text.rfind("</rdf:RDF>")
        if start < 0 or end < 0:
            return None
        end += len("</rdf:RDF>")
    else:
        end += len("</x:xmpmeta>")
    try:
        root = ET.fromstring(text[start:end])
    except ET.ParseError:
        return None
    values: dict[str, str] = {}
    for desc in root.iter(f"{{{NS_RDF}}}Description"):
        for key, value in desc.attrib.items():
            values[key] = value
        for child in desc:
            if child.text and child.text.strip():
                values[child.tag] = child.text.strip()
    dst = values.get(f"{{{NS_IPTC_EXT}}}DigitalSourceType")
    fr = {k[len(NS_FACERIG) + 2:]: v for k, v in values.items() if k.startswith(f"{{{NS_FACERIG}}}")}
    if dst is None and not fr:
        return None
    try:
        params = json.loads(fr["Parameters"]) if "Parameters" in fr else {}
    except json.JSONDecodeError:
        params = {"unparsed": fr["Parameters"]}
    return Provenance(digital_source_type=dst, creator_tool=values.get(f"{{{NS_XMP}}}CreatorTool"),
                      generator=fr.get("Generator"), bundle=fr.get("Bundle"), version=fr.get("Version"),
                      command=fr.get("Command"), parameters=params if isinstance(params, dict) else {},
                      labelled=fr.get("Labelled", "True") != "False", watermark=fr.get("Watermark"))


# ---- PNG ---------------------------------------------------------------------------------------

def _png_chunks(data: bytes):
    """(type, payload, start, end) for each chunk; MetadataError when the structure is broken."""
    if not data.startswith(PNG_SIGNATURE):
        raise MetadataError("not a PNG file")
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise MetadataError("PNG chunk runs past the end of the file")
        yield kind, data[pos + 8:pos + 8 + length], pos, end
        pos = end
        if kind == b"IEND":
            return
    raise MetadataError("PNG file has no IEND chunk")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_add_xmp(data: bytes, packet: bytes) -> bytes:
    """The PNG with an uncompressed iTXt XMP chunk placed right after IHDR (any old one removed)."""
    chunk = _png_chunk(b"iTXt", PNG_XMP_KEY + b"\x00\x00\x00\x00\x00" + packet)
    out = [data[:len(PNG_SIGNATURE)]]
    for kind, payload, start, end in _png_chunks(data):
        if kind == b"iTXt" and payload.startswith(PNG_XMP_KEY + b"\x00"):
            continue
        out.append(data[start:end])
        if kind == b"IHDR":
            out.append(chunk)
    return b"".join(out)


def png_xmp(data: bytes) -> bytes | None:
    """The XMP packet of a PNG (iTXt, compressed or not), or None."""
    for kind, payload, _, _ in _png_chunks(data):
        if kind == b"iTXt" and payload.startswith(PNG_XMP_KEY + b"\x00"):
            rest = payload[len(PNG_XMP_KEY) + 1:]
            if len(rest) < 2:
                return None
            compressed = rest[0] == 1
            rest = rest[2:]
            _, _, rest = rest.partition(b"\x00")   # language tag
            _, _, text = rest.partition(b"\x00")   # translated keyword
            if compressed:
                try:
                    text = zlib.decompressobj().decompress(text, MAX_PACKET)
                except zlib.error:
                    return None
            return text
    return None


# ---- JPEG --------------------------------------------------------------------------------------

def _jpeg_segments(data: bytes):
    """(marker, payload, start, end) for header segments up to SOS; MetadataError when broken."""
    if not data.startswith(b"\xff\xd8"):
        raise MetadataError("not a JPEG file")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise MetadataError("JPEG segment marker missing")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise MetadataError("JPEG segment runs past the end of the file")
        yield marker, data[pos + 4:end], pos, end
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return
        pos = end
    raise MetadataError("JPEG file ends before its image data")


def jpeg_add_xmp(data: bytes, packet: bytes) -> bytes:
    """The JPEG with an APP1 XMP segment after its APP0/JFIF (any old XMP segment removed)."""
    body = JPEG_XMP_HEADER + packet
    if len(body) + 2 > 0xFFFF:
        raise MetadataError("XMP packet too large for one JPEG segment")
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    out, inserted, last = [data[:2]], False, 2
    for marker, payload, start, end in _jpeg_segments(data):
        if marker == 0xE1 and payload.startswith(JPEG_XMP_HEADER):
            last = end
            continue
        if not inserted and marker != 0xE0:
            out.append(segment)
            inserted = True
        out.append(data[start:end])
        last = end
    out.append(data[last:])
    return b"".join(out)


def jpeg_xmp(data: bytes) -> bytes | None:
    """The XMP packet of a JPEG's APP1 segment, or None."""
    for marker, payload, _, _ in _jpeg_segments(data):
        if marker == 0xE1 and payload.startswith(JPEG_XMP_HEADER):
            return payload[len(JPEG_XMP_HEADER):]
    return None


# ---- MP4 (ISO BMFF) ----------------------------------------------------------------------------

def _boxes(data: bytes):
    """(type, box start, payload start, box end) for the top-level boxes; MetadataError when broken."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        head = 8
        if size == 1:
            if pos + 16 > len(data):
                raise MetadataError("MP4 box header truncated")
            (size,) = struct.unpack(">Q", data[pos + 8:pos + 16])
            head = 16
        elif size == 0:
            size = len(data) - pos
        if size < head or pos + size > len(data):
            raise MetadataError("MP4 box runs past the end of the file")
        yield kind, pos, pos + head, pos + size
        pos += size


def is_mp4(data: bytes) -> bool:
    """True for an ISO BMFF file (an 'ftyp' box first)."""
    return len(data) >= 12 and data[4:8] == b"ftyp"


def mp4_add_xmp(data: bytes, packet: bytes) -> bytes:
    """The MP4 with a top-level XMP 'uuid' box appended (offsets inside moov stay valid).

    An XMP box already at the very end is replaced; one elsewhere is refused, because removing it
    would move the media data that the sample tables point at.
    """
    if not is_mp4(data):
        raise MetadataError("not an MP4 file")
    boxes = list(_boxes(data))
    cut = len(data)
    for i, (kind, start, body, end) in enumerate(boxes):
        if kind == b"uuid" and data[body:body + 16] == XMP_UUID:
            if i != len(boxes) - 1:
                raise MetadataError("MP4 already has an XMP box before its last box")
            cut = start
    payload = XMP_UUID + packet
    return data[:cut] + struct.pack(">I4s", len(payload) + 8, b"uuid") + payload


def mp4_xmp(data: bytes) -> bytes | None:
    """The XMP packet of an MP4's top-level uuid box, or None."""
    if not is_mp4(data):
        raise MetadataError("not an MP4 file")
    for kind, _, body, end in _boxes(data):
        if kind == b"uuid" and data[body:body + 16] == XMP_UUID:
            return data[body + 16:end]
    return None


# ---- WebP (RIFF) ------------------------------------------------------------------------------

def webp_xmp(data: bytes) -> bytes | None:
    """The payload of a WebP file's 'XMP ' chunk, or None."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MetadataError("not a WebP file")
    pos = 12
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if pos + 8 + size > len(data):
            raise MetadataError("WebP chunk runs past the end of the file")
        if kind == b"XMP ":
            return data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    return None


# ---- any ---------------------------------------------------------------------------------------

def sniff(data: bytes) -> str | None:
    """'png', 'jpeg', 'mp4', 'webp' or None, from the first bytes."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if is_mp4(data):
        return "mp4"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def add_xmp(data: bytes, packet: bytes) -> bytes:
    """Insert the packet into a PNG, JPEG or MP4 file's bytes (format sniffed)."""
    kind = sniff(data)
    if kind == "png":
        return png_add_xmp(data, packet)
    if kind == "jpeg":
        return jpeg_add_xmp(data, packet)
    if kind == "mp4":
        return mp4_add_xmp(data, packet)
    raise MetadataError("XMP can be written into PNG, JPEG and MP4 files only")


def read_xmp(data: bytes) -> bytes | None:
    """The XMP packet of a PNG, JPEG, MP4 or WebP file; None when it has none or is another format."""
    kind = sniff(data)
    if kind == "png":
        return png_xmp(data)
    if kind == "jpeg":
        return jpeg_xmp(data)
    if kind == "mp4":
        return mp4_xmp(data)
    if kind == "webp":
        return webp_xmp(data)
    return None
