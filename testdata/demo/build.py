#!/usr/bin/env python3
"""Rebuilds the demo data in this folder from the shared real data.

Run from the repository root with ../shared/data present:
    python3 testdata/demo/build.py
Output is deterministic (ids are UUIDv5 of the source values). See README.md
for sources and licences. The organisation and user ids must match
internal/demo/demo.go.
"""
import json, os, tarfile, uuid

DATA = os.path.join('..', 'shared', 'data')
SCHEMAS = os.path.join('..', 'shared', 'schemas')
OUT = os.path.join('testdata', 'demo')
NS = uuid.UUID('6b1d9f0e-3c57-4c8e-9d0a-4b5a7c2e1f30')  # Kizuna demo namespace

TLP = {
    'clear': 'marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487',
    'green': 'marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb',
    'amber': 'marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421',
    'amber+strict': 'marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003',
    'red': 'marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1',
}
DIST = 'extension-definition--1f0e3c1d-6c0e-4f0a-9a43-6b2d1d3a4b5c'

# Must match internal/demo/demo.go.
ORG = {
    'hub': 'identity--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d4e01',
    'ministry': 'identity--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d4e02',
    'utility': 'identity--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d4e03',
    'city': 'identity--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d4e04',
    'university': 'identity--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d4e05',
    'sme': 'identity--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d4e06',
    'cert': 'identity--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d4e07',
}
USER = {
    'utility-admin': 'user--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d5e03',
    'cert-admin': 'user--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d5e07',
}
WHEN = '2026-11-01T09:00:00.000Z'


def write(name, objs):
    with open(os.path.join(OUT, name), 'w', encoding='utf-8') as f:
        f.write('{"type":"bundle","id":"bundle--%s","objects":[\n' % uuid.uuid5(NS, name))
        f.write(',\n'.join(json.dumps(o, ensure_ascii=False, separators=(',', ':')) for o in objs))
        f.write('\n]}\n')
    print(name, len(objs))


def attack():
    b = json.load(open(os.path.join(DATA, 'stix/attack-stix-data/ics-attack/ics-attack-18.1.json'), encoding='utf-8'))
    keep_types = {'marking-definition', 'identity', 'x-mitre-tactic', 'attack-pattern',
                  'intrusion-set', 'malware', 'campaign', 'course-of-action'}
    objs = [o for o in b['objects'] if o['type'] in keep_types and not o.get('revoked')]
    # Definitions first so references resolve within the first batch.
    objs.sort(key=lambda o: (o['type'] not in ('marking-definition', 'identity'),))
    ids = {o['id'] for o in objs}
    rels = [o for o in b['objects'] if o['type'] == 'relationship' and not o.get('revoked')
            and o['source_ref'] in ids and o['target_ref'] in ids
            and o['source_ref'].split('--')[0] in ('intrusion-set', 'malware', 'campaign')]
    write('attack-ics-subset.json', objs + rels[:100])
    return {o['name']: o['id'] for o in objs if o['type'] == 'intrusion-set'}


def indicator(value, kind, producer, tlp, desc, ref, dist=None, extra_name=''):
    pat = "[%s:value = '%s']" % ('ipv4-addr' if kind == 'ip' else 'domain-name', value)
    o = {
        'type': 'indicator', 'spec_version': '2.1',
        'id': 'indicator--%s' % uuid.uuid5(NS, kind + ':' + value),
        'created_by_ref': ORG[producer], 'created': WHEN, 'modified': WHEN,
        'name': ('Malicious IP %s' if kind == 'ip' else 'Malicious domain %s') % value + extra_name,
        'description': desc,
        'indicator_types': ['malicious-activity'],
        'pattern': pat, 'pattern_type': 'stix', 'valid_from': WHEN,
        'external_references': [ref],
    }
    if tlp:
        o['object_marking_refs'] = [TLP[tlp]]
    if dist:
        o['extensions'] = {DIST: dict(extension_type='property-extension', **{k: v for k, v in dist.items() if v})}
    return o


def trails(tar, name, n):
    f = tar.extractfile('maltrail/trails/static/malware/%s.txt' % name)
    vals = [l.strip() for l in f.read().decode().splitlines() if l.strip() and not l.startswith('#')]
    vals = [v for v in vals if '/' not in v and ':' not in v]
    return vals[:n]


def indicators(groups):
    ipsum = [l.split('\t') for l in open(os.path.join(DATA, 'ioc/ipsum/ipsum.txt')) if not l.startswith('#')]
    ipsum_ref = {'source_name': 'ipsum', 'url': 'https://github.com/stamparm/ipsum'}
    cert = []
    for ip, count in ipsum[:16]:
        count = int(count)
        cert.append(indicator(ip, 'ip', 'cert', 'clear' if count >= 9 else 'green',
                              'Listed on %d public blocklists (IPsum).' % count, ipsum_ref))
    write('indicators-partner-cert.json', cert)

    tar = tarfile.open(os.path.join(DATA, 'ioc/maltrail.tar.gz'))
    mref = lambda n: {'source_name': 'maltrail', 'url': 'https://github.com/stamparm/maltrail/blob/master/trails/static/malware/%s.txt' % n}

    sandworm = groups.get('Sandworm Team')
    util = []
    for d in trails(tar, 'apt_sandworm', 10):
        util.append(indicator(d, 'domain', 'utility', 'amber+strict',
                              'Sandworm infrastructure seen in OT-adjacent phishing (Maltrail apt_sandworm trail).', mref('apt_sandworm'),
                              dist={'organizations': [ORG['cert'], ORG['hub']], 'users': []}))
    rels = []
    for o in util:
        rels.append({'type': 'relationship', 'spec_version': '2.1',
                     'id': 'relationship--%s' % uuid.uuid5(NS, o['id'] + sandworm),
                     'created_by_ref': ORG['utility'], 'created': WHEN, 'modified': WHEN,
                     'relationship_type': 'indicates', 'source_ref': o['id'], 'target_ref': sandworm,
                     'object_marking_refs': [TLP['amber+strict']],
                     'extensions': {DIST: {'extension_type': 'property-extension', 'organizations': [ORG['cert'], ORG['hub']]}}})
    write('indicators-electric-utility.json', util + rels)

    city = [indicator(d, 'domain', 'city', 'amber', 'Emotet delivery domain seen in municipal mail (Maltrail emotet trail).',
                      mref('emotet'), dist={'organizations': [ORG['ministry']], 'users': []})
            for d in trails(tar, 'emotet', 8)]
    write('indicators-city.json', city)

    laz = trails(tar, 'apt_lazarus', 12)
    uni = [indicator(d, 'domain', 'university', 'amber', 'Lazarus Group domain targeting research staff (Maltrail apt_lazarus trail).', mref('apt_lazarus'))
           for d in laz[:6]]
    write('indicators-university.json', uni)
    hub = [indicator(d, 'domain', 'hub', 'red', 'Lazarus Group domain under active investigation (Maltrail apt_lazarus trail).',
                     mref('apt_lazarus'), dist={'organizations': [], 'users': [USER['utility-admin'], USER['cert-admin']]})
           for d in laz[6:9]]
    write('indicators-hub-red.json', hub)
    sme = [indicator(d, 'domain', 'sme', None, 'Lazarus Group domain seen in a supplier invoice scam (Maltrail apt_lazarus trail); no TLP given.',
                     mref('apt_lazarus')) for d in laz[9:12]]
    write('indicators-sme.json', sme)


def kev():
    k = json.load(open(os.path.join(DATA, 'vuln/kev/known_exploited_vulnerabilities.json'), encoding='utf-8'))
    vendors = {'Siemens', 'Schneider Electric', 'Rockwell Automation', 'Fortinet', 'Ivanti', 'Citrix', 'Palo Alto Networks'}
    chosen = [v for v in k['vulnerabilities'] if v['vendorProject'] in vendors][:15]
    objs = []
    for v in chosen:
        created = v['dateAdded'] + 'T00:00:00.000Z'
        objs.append({
            'type': 'vulnerability', 'spec_version': '2.1',
            'id': 'vulnerability--%s' % uuid.uuid5(NS, v['cveID']),
            'created_by_ref': ORG['hub'], 'created': created, 'modified': created,
            'name': v['cveID'],
            'description': '%s: %s Required action: %s' % (v['vulnerabilityName'], v['shortDescription'], v['requiredAction']),
            'external_references': [
                {'source_name': 'cve', 'external_id': v['cveID']},
                {'source_name': 'cisa-kev', 'url': 'https://www.cisa.gov/known-exploited-vulnerabilities-catalog', 'description': 'Added to KEV on %s; due %s; known ransomware use: %s' % (v['dateAdded'], v['dueDate'], v['knownRansomwareCampaignUse'])},
            ],
            'object_marking_refs': [TLP['clear']],
        })
    write('kev-vulnerabilities.json', objs)


def oasis():
    objs = []
    for name in ['indicators-for-C2-with-COA.json', 'malicious-email-indicator-with-attachment.json',
                 'infrastructure.json', 'indicator-to-campaign-relationship.json', 'threat-reports/apt1.json']:
        b = json.load(open(os.path.join(SCHEMAS, 'examples', name), encoding='utf-8'))
        objs += b.get('objects', [b])
    seen, out = set(), []
    for o in objs:
        key = (o['id'], o.get('modified', o.get('created')))
        if key not in seen:
            seen.add(key)
            out.append(o)
    write('oasis-examples.json', out)


if __name__ == '__main__':
    groups = attack()
    indicators(groups)
    kev()
    oasis()
