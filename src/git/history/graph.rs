//! The commit graph of the env branches in memory, with generation numbers, so that
//! "reachable from A but not from B" walks only the commits between them instead of
//! opening a fresh revision walk (and re-reading history) for every question.

use git2::Oid;
use std::collections::{BinaryHeap, HashMap};

pub(super) struct Dag {
    index: HashMap<Oid, u32>,
    oids: Vec<Oid>,
    parents: Vec<Vec<u32>>,
    /// 1 for a root, else one more than the highest parent: a child always ranks above its
    /// parents, so a walk in descending generation sees every child before its parents.
    generation: Vec<u32>,
}

const WANT: u8 = 1;
const HIDE: u8 = 2;

impl Dag {
    /// `order` lists every commit children first; `parents_of` gives each one's parents.
    /// Parents outside the walk (a shallow clone's boundary) are left out.
    pub(super) fn new<'a>(order: &[Oid], parents_of: impl Fn(&Oid) -> &'a [Oid]) -> Dag {
        let index: HashMap<Oid, u32> = order
            .iter()
            .enumerate()
            .map(|(i, o)| (*o, i as u32))
            .collect();
        let parents: Vec<Vec<u32>> = order
            .iter()
            .map(|o| {
                parents_of(o)
                    .iter()
                    .filter_map(|p| index.get(p).copied())
                    .collect()
            })
            .collect();
        let mut generation = vec![1u32; order.len()];
        for i in (0..order.len()).rev() {
            let g = parents[i]
                .iter()
                .map(|p| generation[*p as usize] + 1)
                .max()
                .unwrap_or(1);
            generation[i] = g;
        }
        Dag {
            index,
            oids: order.to_vec(),
            parents,
            generation,
        }
    }

    /// One more than the longest path to a root (0 for a commit outside the graph).
    pub(super) fn generation_of(&self, o: &Oid) -> u32 {
        self.index
            .get(o)
            .map(|i| self.generation[*i as usize])
            .unwrap_or(0)
    }

    /// Commits reachable from `want` and not from `hide` (`git rev-list want ^hide`), in no
    /// particular order. Visits only the commits down to where the two histories meet.
    pub(super) fn only_in(&self, want: Oid, hide: Oid) -> Vec<Oid> {
        let Some(&w) = self.index.get(&want) else {
            return Vec::new();
        };
        let Some(&h) = self.index.get(&hide) else {
            return self.closure(w);
        };
        let mut walk = Walk {
            dag: self,
            flags: HashMap::new(),
            heap: BinaryHeap::new(),
            live: 0,
        };
        walk.mark(w, WANT);
        walk.mark(h, HIDE);
        let mut out = Vec::new();
        // Once every queued commit is hidden, everything below them is too.
        while walk.live > 0 {
            let Some((_, n)) = walk.heap.pop() else { break };
            let f = walk.flags[&n];
            if f & HIDE == 0 {
                walk.live -= 1;
                out.push(self.oids[n as usize]);
            }
            for p in &self.parents[n as usize] {
                walk.mark(*p, f);
            }
        }
        out
    }

    fn closure(&self, from: u32) -> Vec<Oid> {
        let mut seen = vec![false; self.oids.len()];
        let mut stack = vec![from];
        let mut out = Vec::new();
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut seen[n as usize], true) {
                continue;
            }
            out.push(self.oids[n as usize]);
            stack.extend(self.parents[n as usize].iter().copied());
        }
        out
    }
}

struct Walk<'d> {
    dag: &'d Dag,
    flags: HashMap<u32, u8>,
    heap: BinaryHeap<(u32, u32)>,
    /// Queued commits not known to be reachable from the hidden side.
    live: usize,
}

impl Walk<'_> {
    fn mark(&mut self, n: u32, f: u8) {
        let e = self.flags.entry(n).or_insert(0);
        let old = *e;
        let new = old | f;
        if new == old {
            return;
        }
        *e = new;
        // A commit's flags only change while it is queued: its children rank higher and
        // all left the queue before it.
        if old == 0 {
            self.heap.push((self.dag.generation[n as usize], n));
            if new & HIDE == 0 {
                self.live += 1;
            }
        } else if old & HIDE == 0 && new & HIDE != 0 {
            self.live -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).unwrap()
    }

    /// 1 ← 2 ← 3 ← 5 (merge of 3 and 4), 2 ← 4; 6 is a second root merged by 7 = (5, 6).
    fn sample() -> (Dag, HashMap<Oid, Vec<Oid>>) {
        let mut parents: HashMap<Oid, Vec<Oid>> = HashMap::new();
        parents.insert(oid(1), vec![]);
        parents.insert(oid(2), vec![oid(1)]);
        parents.insert(oid(3), vec![oid(2)]);
        parents.insert(oid(4), vec![oid(2)]);
        parents.insert(oid(5), vec![oid(3), oid(4)]);
        parents.insert(oid(6), vec![]);
        parents.insert(oid(7), vec![oid(5), oid(6)]);
        let order: Vec<Oid> = [7, 6, 5, 4, 3, 2, 1].iter().map(|n| oid(*n)).collect();
        let dag = Dag::new(&order, |o| parents[o].as_slice());
        (dag, parents)
    }

    fn sorted(mut v: Vec<Oid>) -> Vec<Oid> {
        v.sort();
        v
    }

    #[test]
    fn only_in_matches_set_difference() {
        let (dag, parents) = sample();
        let ancestors = |o: Oid| {
            let mut out = std::collections::BTreeSet::new();
            let mut st = vec![o];
            while let Some(x) = st.pop() {
                if out.insert(x) {
                    st.extend(parents[&x].iter().copied());
                }
            }
            out
        };
        for a in 1..=7 {
            for b in 1..=7 {
                let want: Vec<Oid> = ancestors(oid(a))
                    .difference(&ancestors(oid(b)))
                    .copied()
                    .collect();
                assert_eq!(
                    sorted(dag.only_in(oid(a), oid(b))),
                    sorted(want),
                    "{a} ^{b}"
                );
            }
        }
    }

    #[test]
    fn an_unknown_hidden_commit_hides_nothing() {
        let (dag, _) = sample();
        assert_eq!(dag.only_in(oid(3), oid(99)).len(), 3);
        assert!(dag.only_in(oid(99), oid(3)).is_empty());
    }
}
