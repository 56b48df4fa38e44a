#!/usr/bin/env python3
"""Generates a Salesforce DX project of about 20,000 metadata files as a two-commit git repo
(HEAD~1 → HEAD is a large diff: classes, fields, profiles, labels, workflows changed, added and
deleted). Usage: gen-bench-project.py DIR [SCALE]   (SCALE 1.0 ≈ 20k files)"""
import os, sys, subprocess, random
root = sys.argv[1]; scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
random.seed(7)
D = os.path.join(root, 'force-app/main/default')
NS = 'xmlns="http://soap.sforce.com/2006/04/metadata"'
def w(rel, text):
    p = os.path.join(D, rel); os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, 'w').write(text)
def rm(rel):
    p = os.path.join(D, rel)
    if os.path.exists(p): os.remove(p)
n = lambda x: max(1, int(x * scale))
CLS, OBJ, FLD, LWC, CMD, PROF, LAB, WF, LAY, FLOW = n(3000), n(150), 30, n(100), n(2000), n(40), n(3000), n(60), n(800), n(800)
def meta(t, extra=''): return f'<?xml version="1.0" encoding="UTF-8"?>\n<{t} {NS}>\n    <apiVersion>62.0</apiVersion>\n{extra}</{t}>\n'
def cls(i, v): w(f'classes/C{i}.cls', f'public class C{i} {{\n    // v{v}\n}}\n'); w(f'classes/C{i}.cls-meta.xml', meta('ApexClass', '    <status>Active</status>\n'))
def field(o, f, v): w(f'objects/O{o}__c/fields/F{f}__c.field-meta.xml', f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomField {NS}>\n    <fullName>F{f}__c</fullName>\n    <label>F{f} v{v}</label>\n    <length>{10+v}</length>\n    <type>Text</type>\n</CustomField>\n')
def profile(p, v):
    body = ''.join(f'    <classAccesses>\n        <apexClass>C{i}</apexClass>\n        <enabled>{"true" if (i + v * (i % 7 == 0)) % 2 else "false"}</enabled>\n    </classAccesses>\n' for i in range(0, CLS, 3))
    body += ''.join(f'    <fieldPermissions>\n        <editable>{"true" if v and f % 11 == 0 else "false"}</editable>\n        <field>O{o}__c.F{f}__c</field>\n        <readable>true</readable>\n    </fieldPermissions>\n' for o in range(OBJ) for f in range(0, FLD, 3))
    w(f'profiles/P{p}.profile-meta.xml', f'<?xml version="1.0" encoding="UTF-8"?>\n<Profile {NS}>\n{body}    <custom>true</custom>\n    <userLicense>Salesforce</userLicense>\n</Profile>\n')
def labels(v):
    body = ''.join(f'    <labels>\n        <fullName>L{i}</fullName>\n        <language>en_US</language>\n        <protected>false</protected>\n        <shortDescription>L{i}</shortDescription>\n        <value>Value {i}{" v"+str(v) if i % 20 == 0 else ""}</value>\n    </labels>\n' for i in range(LAB) if not (v and i % 50 == 1))
    if v: body += ''.join(f'    <labels>\n        <fullName>New{i}</fullName>\n        <language>en_US</language>\n        <protected>false</protected>\n        <shortDescription>N</shortDescription>\n        <value>N</value>\n    </labels>\n' for i in range(50))
    w('labels/CustomLabels.labels-meta.xml', f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomLabels {NS}>\n{body}</CustomLabels>\n')
def workflow(o, v):
    body = ''.join(f'    <rules>\n        <fullName>R{r}</fullName>\n        <active>{"true" if (r + v) % 2 else "false"}</active>\n        <triggerType>onCreateOnly</triggerType>\n    </rules>\n' for r in range(20))
    w(f'workflows/O{o}__c.workflow-meta.xml', f'<?xml version="1.0" encoding="UTF-8"?>\n<Workflow {NS}>\n{body}</Workflow>\n')
def git(*a): subprocess.run(['git', '-C', root, *a], check=True, env={**os.environ, 'GIT_CONFIG_GLOBAL': '/dev/null', 'GIT_CONFIG_NOSYSTEM': '1', 'GIT_AUTHOR_NAME': 'B', 'GIT_AUTHOR_EMAIL': 'b@x', 'GIT_COMMITTER_NAME': 'B', 'GIT_COMMITTER_EMAIL': 'b@x', 'GIT_AUTHOR_DATE': '2026-01-01T00:00:00Z', 'GIT_COMMITTER_DATE': '2026-01-01T00:00:00Z'})
os.makedirs(root, exist_ok=True)
open(os.path.join(root, 'sfdx-project.json'), 'w').write('{"packageDirectories":[{"path":"force-app","default":true}],"sourceApiVersion":"62.0"}\n')
for i in range(CLS): cls(i, 0)
for o in range(OBJ):
    w(f'objects/O{o}__c/O{o}__c.object-meta.xml', f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomObject {NS}>\n    <label>O{o}</label>\n    <sharingModel>ReadWrite</sharingModel>\n</CustomObject>\n')
    for f in range(FLD): field(o, f, 0)
for l in range(LWC):
    w(f'lwc/c{l}/c{l}.js', 'export default class {}\n'); w(f'lwc/c{l}/c{l}.html', '<template></template>\n'); w(f'lwc/c{l}/c{l}.js-meta.xml', meta('LightningComponentBundle'))
for c in range(CMD): w(f'customMetadata/Cfg.R{c}.md-meta.xml', f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomMetadata {NS}>\n    <label>R{c}</label>\n    <protected>false</protected>\n</CustomMetadata>\n')
for p in range(PROF): profile(p, 0)
labels(0)
for o in range(WF): workflow(o, 0)
for l in range(LAY): w(f'layouts/O{l % max(OBJ,1)}__c-L{l}.layout-meta.xml', f'<?xml version="1.0" encoding="UTF-8"?>\n<Layout {NS}>\n    <showRunAssignmentRulesCheckbox>false</showRunAssignmentRulesCheckbox>\n</Layout>\n')
for f in range(FLOW): w(f'flows/Flow{f}.flow-meta.xml', f'<?xml version="1.0" encoding="UTF-8"?>\n<Flow {NS}>\n    <label>Flow{f}</label>\n    <status>Active</status>\n</Flow>\n')
git('init', '-q', '-b', 'main'); git('add', '-A'); git('commit', '-qm', 'from')
# the large diff
for i in range(0, CLS, 10): cls(i, 1)
for i in range(CLS - CLS // 10, CLS): rm(f'classes/C{i}.cls'); rm(f'classes/C{i}.cls-meta.xml')
for i in range(CLS, CLS + CLS // 10): cls(i, 1)
for o in range(OBJ):
    for f in range(0, FLD, 5): field(o, f, 1)
    rm(f'objects/O{o}__c/fields/F{FLD-1}__c.field-meta.xml')
for p in range(PROF): profile(p, 1)
labels(1)
for o in range(0, WF, 2): workflow(o, 1)
for l in range(0, LWC, 4): w(f'lwc/c{l}/c{l}.html', '<template><p>v1</p></template>\n')
for c in range(0, CMD, 10): rm(f'customMetadata/Cfg.R{c}.md-meta.xml')
git('add', '-A'); git('commit', '-qm', 'to')
print(sum(len(fs) for _, _, fs in os.walk(D)), 'metadata files')
