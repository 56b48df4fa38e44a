#!/usr/bin/env python3
"""Compares two Metadata API trees: same file set, XML files equal after removing formatting
(package.xml compared as sets of type:member), zipped static resources compared by entry
contents, other files byte for byte. Exit 1 and a list of differences when they differ."""
import sys, os, io, zipfile, xml.etree.ElementTree as ET

def files(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = p
    return out

def canon(e):
    text = (e.text or '').strip()
    return (e.tag, tuple(sorted(e.attrib.items())), text, tuple(canon(c) for c in e))

def members(path):
    ns = '{http://soap.sforce.com/2006/04/metadata}'
    r = ET.parse(path).getroot()
    s = set()
    for t in r.findall(ns + 'types'):
        n = t.find(ns + 'name').text
        for m in t.findall(ns + 'members'):
            s.add(n + ':' + m.text)
    return s, (r.find(ns + 'version').text if r.find(ns + 'version') is not None else None)

def same(rel, a, b):
    base = os.path.basename(rel)
    if base == 'package.xml' or base.startswith('destructiveChanges'):
        return members(a) == members(b)
    da, db = open(a, 'rb').read(), open(b, 'rb').read()
    if rel.endswith('.resource') and da[:2] == b'PK':
        try:
            za, zb = zipfile.ZipFile(io.BytesIO(da)), zipfile.ZipFile(io.BytesIO(db))
            ea = {n: za.read(n) for n in za.namelist() if not n.endswith('/')}
            eb = {n: zb.read(n) for n in zb.namelist() if not n.endswith('/')}
            return ea == eb
        except zipfile.BadZipFile:
            return False
    if da.lstrip().startswith(b'<?xml') or rel.endswith('-meta.xml'):
        try:
            return canon(ET.fromstring(da)) == canon(ET.fromstring(db))
        except ET.ParseError:
            pass
    return da == db

def main(a, b):
    fa, fb = files(a), files(b)
    bad = []
    for rel in sorted(set(fa) | set(fb)):
        if rel not in fa: bad.append('only in ' + b + ': ' + rel)
        elif rel not in fb: bad.append('only in ' + a + ': ' + rel)
        elif not same(rel, fa[rel], fb[rel]):
            bad.append('differs: ' + rel)
            if os.path.basename(rel) == 'package.xml' or os.path.basename(rel).startswith('destructiveChanges'):
                (ma, va), (mb, vb) = members(fa[rel]), members(fb[rel])
                for m in sorted(ma - mb): bad.append('   - ' + m)
                for m in sorted(mb - ma): bad.append('   + ' + m)
    for l in bad: print(l)
    return 1 if bad else 0

if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
