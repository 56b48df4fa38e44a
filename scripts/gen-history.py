#!/usr/bin/env python3
"""Generates a repository shaped like a real Salesforce project's history, for presence
benchmarks: a long shared trunk of about N commits (feature branches merged by pull request,
story ids in subjects and branch names, direct commits) and five env branches that differ by a
few hundred commits, with hotfixes on prod cherry-picked (-x) into uat and copied into qa.

Usage: gen-history.py DIR N      (writes DIR/.git via `git fast-import`, plus backflow.toml)
Deterministic: the same N gives the same commit ids."""
import os, subprocess, sys

root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(root, exist_ok=True)
env = {**os.environ, 'GIT_CONFIG_GLOBAL': '/dev/null', 'GIT_CONFIG_NOSYSTEM': '1'}
subprocess.run(['git', 'init', '-q', '-b', 'main', root], check=True, env=env)

out = []
mark = 0
t = 1_600_000_000
story = 10_000


def data(s):
    b = s.encode()
    out.append(b'data %d\n' % len(b) + b + b'\n')


def commit(ref, msg, parent, files, merge=None):
    """One commit on `ref` with `files` ({path: text}); returns its mark."""
    global mark, t
    mark += 1
    t += 97
    out.append(b'commit %s\nmark :%d\n' % (ref.encode(), mark))
    out.append(b'author Dev <dev@acme.example> %d +0000\n' % t)
    out.append(b'committer Dev <dev@acme.example> %d +0000\n' % t)
    data(msg)
    if parent:
        out.append(b'from :%d\n' % parent)
    if merge:
        out.append(b'merge :%d\n' % merge)
    for p, text in files.items():
        out.append(b'M 100644 inline force-app/main/default/classes/%s\n' % p.encode())
        data(text)
    return mark


def cls(name, v):
    return {f'{name}.cls': f'public class {name} {{\n    // {v}\n}}\n'}


def grow(ref, tip, count, prefix):
    """About `count` commits on `ref`: pull requests of 1-3 story commits, direct commits."""
    global story
    made, i = 0, 0
    while made < count:
        i += 1
        story += 1
        sid = f'{prefix}{story}'
        if i % 4 == 0:
            # A direct commit naming its story.
            tip = commit(ref, f'{sid}: direct change {i}', tip, cls(f'D{story % 300}', sid))
            made += 1
            continue
        fork = tip
        branch_files = {}
        ftip = fork
        for j in range(1 + i % 3):
            # A bounded set of classes, as in a real project (trees do not grow per commit).
            f = cls(f'S{story % 600}_{j}', f'{sid} {j}')
            branch_files.update(f)
            # Some commits on a story branch name the story only through the branch.
            msg = f'{sid}: part {j}' if j % 2 == 0 else f'Tidy part {j}'
            ftip = commit(f'refs/heads/feature/{sid}', msg, ftip, f)
            made += 1
        tip = commit(ref, f'Unrelated fix {i}', tip, cls(f'U{i % 300}', f'{prefix}{i}'))
        tip = commit(ref, f'Merge pull request #{story} from acme/feature/{sid}-work', tip,
                     branch_files, merge=ftip)
        made += 2
    return tip


marks = os.path.join(root, '.git', 'bench-marks')


def flush():
    """Imports what was generated so far; returns the commit id of every mark."""
    args = ['git', '-C', root, 'fast-import', '--quiet', f'--export-marks={marks}']
    if os.path.exists(marks):
        args.append(f'--import-marks={marks}')
    subprocess.run(args, input=b''.join(out), check=True, env=env)
    out.clear()
    return dict(l.split() for l in open(marks).read().splitlines())


trunk = grow('refs/heads/main', None, n, 'W-')
# Hotfixes on prod, on top of the trunk.
prod, hotfixes = trunk, []
for h in range(20):
    story += 1
    files = cls(f'Hotfix{h}', 1)
    prod = commit('refs/heads/prod', f'W-{story}: hotfix {h}', prod, files)
    hotfixes.append((prod, f'W-{story}: hotfix {h}', files))
ids = flush()
uat = grow('refs/heads/uat', trunk, 150, 'W-')
for (m, msg, files) in hotfixes[:10]:
    uat = commit('refs/heads/uat', f'{msg}\n\n(cherry picked from commit {ids[":%d" % m]})\n',
                 uat, files)
qa = grow('refs/heads/qa', uat, 100, 'W-')
for (m, msg, files) in hotfixes[10:15]:
    qa = commit('refs/heads/qa', msg, qa, files)  # copied by hand: same patch, no -x line
dev1 = grow('refs/heads/dev1', qa, 80, 'W-')
dev2 = grow('refs/heads/dev2', qa, 60, 'W-')
flush()
os.remove(marks)
# Story branches are merged and gone, as on a real remote.
subprocess.run(['sh', '-c', f'git -C {root} for-each-ref --format="delete %(refname)" refs/heads/feature | git -C {root} update-ref --stdin'], check=True, env=env)
subprocess.run(['git', '-C', root, 'gc', '-q'], check=True, env=env)

envs = [('dev1', 'dev'), ('dev2', 'dev'), ('qa', 'qa'), ('uat', 'uat'), ('prod', 'prod')]
cfg = "[project]\nstory_pattern = 'W-[0-9]+'\n"
for name, kind in envs:
    cfg += f'\n[[env]]\nname = "{name}"\nbranch = "{name}"\nkind = "{kind}"\n'
for a, b in [('dev1', 'qa'), ('dev2', 'qa'), ('qa', 'uat'), ('uat', 'prod')]:
    cfg += f'\n[[connection]]\nfrom = "{a}"\nto = "{b}"\n'
open(os.path.join(root, 'backflow.toml'), 'w').write(cfg)
open(os.path.join(root, 'sfdx-project.json'), 'w').write(
    '{"packageDirectories":[{"path":"force-app","default":true}],"sourceApiVersion":"66.0"}\n')
