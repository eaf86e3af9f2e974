//! UID sets (`sequence-set` of RFC 3501 §9, as UID commands take it, §6.4.8). No I/O here.

use std::fmt;

/// A set of UIDs for `UID FETCH`, `UID STORE` and the `UID` search key.
///
/// Built from UIDs and ranges in any order; kept sorted and merged, so runs go out compressed
/// (`1:3,7,9:10`). [`UidSet::all`] and [`UidSet::starting_at`] reach up to `*`, the highest UID in
/// the mailbox. The set formats itself (its [`Display`](fmt::Display) is the wire form), so
/// callers never write the syntax.
///
/// UIDs are `nz-number`s: a 0 is kept and sent as given, and a server refuses it (`BAD`), which
/// the command reports as an error rather than an empty result.
///
/// An empty set has no wire form: commands given one return at once with an empty result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UidSet {
    /// Sorted, disjoint, non-adjacent inclusive ranges.
    ranges: Vec<(u32, u32)>,
    /// `n:*`: from `n` to the highest UID in the mailbox.
    open_from: Option<u32>,
}

impl UidSet {
    /// The empty set.
    pub fn new() -> Self {
        UidSet::default()
    }

    /// Every message in the mailbox: `1:*`.
    pub fn all() -> Self {
        UidSet::starting_at(1)
    }

    /// UIDs from `first` up to the highest in the mailbox: `first:*`. When the mailbox's
    /// highest UID is below `first`, servers match that highest message (RFC 3501 §9 `seq-range`).
    pub fn starting_at(first: u32) -> Self {
        UidSet {
            ranges: Vec::new(),
            open_from: Some(first),
        }
    }

    /// The UIDs from `a` to `b` inclusive (in either order).
    pub fn range(a: u32, b: u32) -> Self {
        let mut s = UidSet::new();
        s.insert_range(a, b);
        s
    }

    /// Adds one UID.
    pub fn insert(&mut self, uid: u32) {
        self.insert_range(uid, uid);
    }

    /// Adds the UIDs from `a` to `b` inclusive (in either order).
    pub fn insert_range(&mut self, a: u32, b: u32) {
        self.ranges.push((a.min(b), a.max(b)));
        self.normalize();
    }

    /// Whether the set holds no UID (and no `*` range).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty() && self.open_from.is_none()
    }

    /// Sorts and merges overlapping or adjacent ranges.
    fn normalize(&mut self) {
        self.ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.ranges.len());
        for &(a, b) in &self.ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.ranges = merged;
    }
}

impl From<u32> for UidSet {
    fn from(uid: u32) -> Self {
        UidSet::range(uid, uid)
    }
}

impl FromIterator<u32> for UidSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut s = UidSet::new();
        s.extend(iter);
        s
    }
}

impl Extend<u32> for UidSet {
    fn extend<I: IntoIterator<Item = u32>>(&mut self, iter: I) {
        self.ranges.extend(iter.into_iter().map(|u| (u, u)));
        self.normalize();
    }
}

impl<'a> FromIterator<&'a u32> for UidSet {
    fn from_iter<I: IntoIterator<Item = &'a u32>>(iter: I) -> Self {
        iter.into_iter().copied().collect()
    }
}

/// The wire form, e.g. `1:3,7,9:*`; empty for the empty set.
impl fmt::Display for UidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            if first {
                first = false;
                Ok(())
            } else {
                f.write_str(",")
            }
        };
        for &(a, b) in &self.ranges {
            sep(f)?;
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}:{b}")?;
            }
        }
        if let Some(n) = self.open_from {
            sep(f)?;
            write!(f, "{n}:*")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(s: &UidSet) -> Vec<u8> {
        s.to_string().into_bytes()
    }

    #[test]
    fn runs_are_compressed_in_any_order() {
        let s: UidSet = [9, 1, 2, 3, 7, 10].into_iter().collect();
        assert_eq!(wire(&s), b"1:3,7,9:10");
        assert_eq!(wire(&UidSet::from(5)), b"5");
        // Duplicates and overlapping ranges merge.
        let mut s: UidSet = [4, 4, 4].iter().collect();
        s.insert_range(6, 2);
        s.insert(8);
        s.insert_range(7, 7);
        assert_eq!(wire(&s), b"2:8");
    }

    #[test]
    fn star_ranges_reach_the_highest_uid() {
        assert_eq!(wire(&UidSet::all()), b"1:*");
        assert_eq!(wire(&UidSet::starting_at(100)), b"100:*");
        let mut s = UidSet::starting_at(50);
        s.insert(3);
        assert_eq!(wire(&s), b"3,50:*");
        assert!(!UidSet::all().is_empty());
    }

    #[test]
    fn extremes_and_empty() {
        assert_eq!(wire(&UidSet::range(u32::MAX, 1)), b"1:4294967295");
        let mut s = UidSet::from(u32::MAX);
        s.insert(u32::MAX - 1);
        assert_eq!(wire(&s), b"4294967294:4294967295");
        assert_eq!(wire(&UidSet::from(0)), b"0");
        assert!(UidSet::new().is_empty());
        assert!(UidSet::from_iter(Vec::<u32>::new()).is_empty());
        assert_eq!(wire(&UidSet::new()), b"");
    }

    #[test]
    fn chunks_of_a_listing_become_sets() {
        let uids = [10u32, 9, 8, 3];
        let sets: Vec<UidSet> = uids.chunks(3).map(UidSet::from_iter).collect();
        assert_eq!(sets.len(), 2);
        assert_eq!(wire(&sets[0]), b"8:10");
        assert_eq!(wire(&sets[1]), b"3");
    }
}
