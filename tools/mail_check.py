#!/usr/bin/env python3
"""Checks the email previews (`aftercart preview-all`) as a mail client shows them.

Usage: mail_check.py prepare DIR   -- writes DIR/check/*.html: each preview with its
                                      images pointed at local files
       node tools/browser/mail.js DIR -- screenshots, and DIR/check/*.{390,800}.json: what
                                      each page measured in Chromium
       mail_check.py verify DIR    -- reads those and the .txt and .eml files, fails on the
                                      first problem

Per preview, from the DOM at 390 and 800 px: no horizontal overflow, every image has alt
text, every link is absolute (https, http on loopback for local runs, or mailto:), every
link to the links function carries a token signed with a key of AFTERCART_LINK_KEYS (as
the links function checks it) that has not expired, and the text part carries the same
links as the HTML part. Per .eml: From, To, Date, Message-ID, Reply-To, List-Unsubscribe
with List-Unsubscribe-Post, an RFC 2047 subject when it is not ASCII, no BOM, and CRLF
line ends only.
"""
import base64
import email
import email.policy
import hashlib
import hmac
import json
import os
import pathlib
import re
import struct
import sys
import time
import zlib

WIDTHS = (390, 800)
# The test config's images (tools/browser_mail.sh), served from local files in the copy.
IMAGE_HOST = "https://cdn.aftercart.test/"
LINKS_PATH = "/lambda-url/links/"

def png(width, height, rgb):
    """A solid-colour PNG (no imaging library needed)."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def previews(d):
    return sorted(p for p in d.glob("*.html") if p.name != "index.html")


def prepare(d):
    check = d / "check"
    check.mkdir(exist_ok=True)
    (check / "img").mkdir(exist_ok=True)
    for p in previews(d):
        html = p.read_text(encoding="utf-8")
        for src in set(re.findall(r'src="(' + re.escape(IMAGE_HOST) + r'[^"]+)"', html)):
            name = src[len(IMAGE_HOST):].replace("/", "_")
            big = "logo" in name
            (check / "img" / name).write_bytes(png(160 if big else 128, 48 if big else 128, (31, 78, 121) if big else (180, 68, 28)))
            html = html.replace(src, "img/" + name)
        (check / p.name).write_text(html, encoding="utf-8")
    print(f"prepared {len(previews(d))} previews in {check}")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def absolute(href):
    return (href.startswith("https://") or href.startswith("mailto:")
            or re.match(r"http://(127\.\d+\.\d+\.\d+|localhost)(:\d+)?/", href))


def verify(d):
    checked = 0
    for p in previews(d):
        stem = p.name[: -len(".html")]
        text = (d / (stem + ".txt")).read_text(encoding="utf-8")
        for width in WIDTHS:
            r = json.loads((d / "check" / f"{stem}.{width}.json").read_text(encoding="utf-8"))
            if r["scrollWidth"] > r["width"]:
                fail(f"{stem} at {width} px: {r['scrollWidth']} px wide in a {r['width']} px window: {r['wide']}")
            for img in r["images"]:
                if not (img["alt"] or "").strip():
                    fail(f"{stem}: image {img['src']} has no alt text")
                if not img["loaded"]:
                    fail(f"{stem}: image {img['src']} did not load")
            for href in r["links"]:
                if not absolute(href):
                    fail(f"{stem}: link {href!r} is not absolute")
                if LINKS_PATH in href:
                    check_token(stem, href)
            html_links = {h for h in r["links"] if not h.startswith("mailto:")}
        text_links = set(re.findall(r"^(https?://\S+)$", text, re.M))
        if html_links != text_links:
            fail(f"{stem}: the text and HTML parts link differently: only in HTML {sorted(html_links - text_links)}, only in text {sorted(text_links - html_links)}")
        check_eml(stem, (d / (stem + ".eml")).read_bytes())
        checked += 1
    if checked == 0:
        fail(f"no previews in {d}")
    print(f"mail: {checked} previews at {WIDTHS} px: no overflow, alt text on every image, absolute and signed links, the same links in both parts, well-formed .eml")


def check_token(stem, href):
    """The link's token is signed with a key of AFTERCART_LINK_KEYS (as the links
    function checks it: HMAC-SHA256 of `vN.payload`), and not expired."""
    m = re.search(r"[?&]t=(v(\d+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+))(?:&|$)", href)
    if not m:
        fail(f"{stem}: link {href!r} carries no token")
    keys = dict(k.split(":", 1) for k in os.environ.get("AFTERCART_LINK_KEYS", "").split(",") if ":" in k)
    key = keys.get(m.group(2))
    if key is None:
        fail(f"{stem}: link {href!r} is signed with key version {m.group(2)}, not one of AFTERCART_LINK_KEYS")
    signed = f"v{m.group(2)}.{m.group(3)}".encode()
    tag = base64.urlsafe_b64encode(hmac.new(key.encode(), signed, hashlib.sha256).digest()).rstrip(b"=").decode()
    if not hmac.compare_digest(tag, m.group(4)):
        fail(f"{stem}: link {href!r} has a signature the links function would refuse")
    claims = json.loads(base64.urlsafe_b64decode(m.group(3) + "=" * (-len(m.group(3)) % 4)))
    if claims.get("expires_at", 0) < time.time():
        fail(f"{stem}: link {href!r} has expired")


def check_eml(stem, raw):
    if raw.startswith(b"\xef\xbb\xbf"):
        fail(f"{stem}.eml starts with a BOM")
    if re.search(rb"(?<!\r)\n", raw) or re.search(rb"\r(?!\n)", raw):
        fail(f"{stem}.eml has a line end that is not CRLF")
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", errors="strict")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for h in ("From", "To", "Date", "Message-ID", "Subject", "MIME-Version", "Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post"):
        if msg[h] is None:
            fail(f"{stem}.eml has no {h} header")
    if msg["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click":
        fail(f"{stem}.eml: List-Unsubscribe-Post is {msg['List-Unsubscribe-Post']!r}")
    if not re.fullmatch(r"<https?://\S+>", str(msg["List-Unsubscribe"])):
        fail(f"{stem}.eml: List-Unsubscribe is {msg['List-Unsubscribe']!r}")
    raw_subject = re.search(r"^Subject:(.*(?:\r\n[ \t].*)*)", head, re.M | re.I).group(1)
    if not str(msg["Subject"]).isascii() and "=?utf-8?" not in raw_subject.lower():
        fail(f"{stem}.eml: a non-ASCII subject that is not RFC 2047-encoded: {raw_subject!r}")
    if msg.get_content_type() != "multipart/alternative":
        fail(f"{stem}.eml is {msg.get_content_type()}, not multipart/alternative")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("prepare", "verify"):
        fail(__doc__)
    (prepare if sys.argv[1] == "prepare" else verify)(pathlib.Path(sys.argv[2]))
