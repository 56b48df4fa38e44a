#!/usr/bin/env python3
"""Builds the fidelity repositories compare-oracles.sh runs on: git histories shaped like
public Salesforce projects (NPSP-style source layout; a Metadata API format project), one
commit per kind of change that trips a naive delta or convert. Deterministic: fixed authors,
dates and content. Prints one line per repository: its path, then `kind=commit` pairs.

Usage: scripts/gen-fidelity-repos.py CACHE_DIR
"""
import os, subprocess, sys, shutil

NS = 'http://soap.sforce.com/2006/04/metadata'
ENV = dict(os.environ, GIT_CONFIG_GLOBAL='/dev/null', GIT_CONFIG_NOSYSTEM='1',
           GIT_AUTHOR_NAME='Fixture', GIT_AUTHOR_EMAIL='fixture@example.com',
           GIT_AUTHOR_DATE='2026-01-01T00:00:00Z', GIT_COMMITTER_NAME='Fixture',
           GIT_COMMITTER_EMAIL='fixture@example.com', GIT_COMMITTER_DATE='2026-01-01T00:00:00Z')


def git(repo, *args):
    return subprocess.run(['git', '-C', repo, *args], env=ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def write(repo, rel, text):
    p = os.path.join(repo, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, 'w') as f:
        f.write(text)


def remove(repo, rel):
    git(repo, 'rm', '-q', rel)


def xml(root, body):
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">\n{body}</{root}>\n'


def cls_meta():
    return xml('ApexClass', '    <apiVersion>62.0</apiVersion>\n    <status>Active</status>\n')


def apex(repo, d, name, body='// v1'):
    write(repo, f'{d}/{name}.cls', f'public class {name} {{\n    {body}\n}}\n')
    write(repo, f'{d}/{name}.cls-meta.xml', cls_meta())


def labels(names, value='v'):
    return xml('CustomLabels', ''.join(
        f'    <labels>\n        <fullName>{n}</fullName>\n        <language>en_US</language>\n'
        f'        <protected>false</protected>\n        <shortDescription>{n}</shortDescription>\n'
        f'        <value>{value}</value>\n    </labels>\n' for n in names))


def profile(perms):
    return xml('Profile', '    <custom>false</custom>\n' + ''.join(
        f'    <userPermissions>\n        <enabled>{str(on).lower()}</enabled>\n'
        f'        <name>{n}</name>\n    </userPermissions>\n' for n, on in perms))


def field(name, formula=None, desc='Plain'):
    body = f'    <fullName>{name}</fullName>\n    <description>{desc}</description>\n'
    if formula:
        body += f'    <formula>{formula}</formula>\n    <label>{name}</label>\n    <type>Number</type>\n'
        body += '    <precision>18</precision>\n    <scale>2</scale>\n'
    else:
        body += f'    <label>{name}</label>\n    <length>18</length>\n    <type>Text</type>\n'
    return xml('CustomField', body)


def commit(repo, kind, log):
    git(repo, 'add', '-A')
    git(repo, 'commit', '-q', '--allow-empty', '-m', kind)
    log.append((kind, git(repo, 'rev-parse', 'HEAD')))


def npsp(repo):
    """Source format, NPSP-shaped: trigger handlers under tdtm/, two labels files, decomposed
    objects spread over two package directories, translations, a profile."""
    log = []
    git(repo, 'init', '-q', '-b', 'main')
    write(repo, 'sfdx-project.json',
          '{"packageDirectories":[{"path":"force-app","default":true},{"path":"unpackaged/config"}],'
          '"sourceApiVersion":"62.0","namespace":""}\n')
    d = 'force-app/main/default'
    apex(repo, f'{d}/classes', 'ACCT_Utils')
    apex(repo, f'{d}/classes', 'OldName')
    apex(repo, f'{d}/classes', 'Doomed')
    apex(repo, 'force-app/tdtm/triggerHandlers/account', 'ACCT_Accounts_TDTM')
    apex(repo, f'{d}/classes/Shared Code', 'UTIL_Shared')
    write(repo, f'{d}/labels/CustomLabels.labels-meta.xml', labels(['npsp_Alpha', 'npsp_Beta']))
    write(repo, f'{d}/labels/Households.labels-meta.xml', labels(['hh_Name']))
    write(repo, f'{d}/objects/Account/Account.object-meta.xml',
          xml('CustomObject', '    <enableFeeds>false</enableFeeds>\n'))
    write(repo, f'{d}/objects/Account/fields/Score__c.field-meta.xml',
          field('Score__c', 'IF(\n  ISBLANK(Name),\n  0,\n  1\n)', 'Line one\nLine two'))
    write(repo, f'{d}/objects/Account/fields/accountRef__c.field-meta.xml', field('accountRef__c'))
    write(repo, 'unpackaged/config/objects/Account/fields/Config__c.field-meta.xml',
          field('Config__c'))
    write(repo, f'{d}/profiles/Admin.profile-meta.xml',
          profile([('ApiEnabled', True), ('ViewSetup', True)]))
    write(repo, f'{d}/objectTranslations/Account-de/Account-de.objectTranslation-meta.xml',
          xml('CustomObjectTranslation', '    <gender>Masculine</gender>\n'))
    write(repo, f'{d}/lwc/card/card.js', 'export default class Card {}\n')
    write(repo, f'{d}/lwc/card/card.js-meta.xml',
          xml('LightningComponentBundle', '    <apiVersion>62.0</apiVersion>\n'))
    commit(repo, 'base', log)
    apex(repo, 'force-app/tdtm/triggerHandlers/account', 'ACCT_Accounts_TDTM', '// v2')
    commit(repo, 'class-outside-classes', log)
    write(repo, f'{d}/labels/Households.labels-meta.xml', labels(['hh_Name', 'hh_Greeting']))
    commit(repo, 'label-second-file', log)
    write(repo, f'{d}/objects/Account/fields/Score__c.field-meta.xml',
          field('Score__c', 'IF(\n  ISBLANK(Name),\n  0,\n  2\n)', 'Line one\nLine two'))
    commit(repo, 'multiline-formula', log)
    git(repo, 'mv', f'{d}/objects/Account/fields/accountRef__c.field-meta.xml',
        f'{d}/objects/Account/fields/AccountRef__c.field-meta.xml')
    write(repo, f'{d}/objects/Account/fields/AccountRef__c.field-meta.xml', field('AccountRef__c'))
    commit(repo, 'case-only-rename', log)
    write(repo, f'{d}/profiles/Admin.profile-meta.xml', profile([('ApiEnabled', True)]))
    commit(repo, 'profile-removal-only', log)
    write(repo, 'unpackaged/config/objects/Account/fields/Config__c.field-meta.xml',
          field('Config__c', desc='Changed'))
    commit(repo, 'child-in-second-dir', log)
    remove(repo, f'{d}/classes/Doomed.cls')
    remove(repo, f'{d}/classes/Doomed.cls-meta.xml')
    commit(repo, 'deletion', log)
    git(repo, 'mv', f'{d}/classes/OldName.cls', f'{d}/classes/NewName.cls')
    git(repo, 'mv', f'{d}/classes/OldName.cls-meta.xml', f'{d}/classes/NewName.cls-meta.xml')
    commit(repo, 'rename', log)
    write(repo, f'{d}/lwc/card/card.js', 'export default class Card { x = 1; }\n')
    apex(repo, f'{d}/classes/Shared Code', 'UTIL_Shared', '// v2')
    commit(repo, 'bundle-and-shared-code', log)
    return log


def mdapi(repo):
    """Metadata API format: `src/` with its package.xml."""
    log = []
    git(repo, 'init', '-q', '-b', 'main')
    write(repo, 'sfdx-project.json',
          '{"packageDirectories":[{"path":"src","default":true}],"sourceApiVersion":"62.0"}\n')
    write(repo, 'src/package.xml', xml('Package', '    <version>62.0</version>\n'))
    apex(repo, 'src/classes', 'A')
    apex(repo, 'src/classes', 'Gone')
    write(repo, 'src/objects/Address__c.object',
          xml('CustomObject', '    <label>Address</label>\n'))
    write(repo, 'src/objectTranslations/Account-de.objectTranslation',
          xml('CustomObjectTranslation', '    <gender>Masculine</gender>\n'))
    write(repo, 'src/labels/CustomLabels.labels', labels(['One']))
    commit(repo, 'base', log)
    write(repo, 'src/objects/Address__c.object',
          xml('CustomObject', '    <label>Postal address</label>\n'))
    commit(repo, 'mdapi-object', log)
    write(repo, 'src/objectTranslations/Account-de.objectTranslation',
          xml('CustomObjectTranslation', '    <gender>Feminine</gender>\n'))
    commit(repo, 'mdapi-translation', log)
    apex(repo, 'src/classes', 'A', '// v2')
    remove(repo, 'src/classes/Gone.cls')
    remove(repo, 'src/classes/Gone.cls-meta.xml')
    commit(repo, 'mdapi-class-and-deletion', log)
    write(repo, 'src/labels/CustomLabels.labels', labels(['One', 'Two']))
    commit(repo, 'mdapi-label', log)
    return log


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    cache = sys.argv[1]
    for name, build in (('npsp-shaped', npsp), ('mdapi-format', mdapi)):
        repo = os.path.join(cache, name)
        shutil.rmtree(repo, ignore_errors=True)
        os.makedirs(repo)
        log = build(repo)
        print(repo, ' '.join(f'{k}={c}' for k, c in log))


if __name__ == '__main__':
    main()
