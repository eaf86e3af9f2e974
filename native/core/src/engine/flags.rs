//! Message flags: normalisation, what a target may hold, and the three-way difference that
//! carries source changes to the target without undoing changes made on the target.
//!
//! A row's `flags` column holds the flags we last applied to the target (space-separated,
//! sorted). On an incremental pass the source's flags now are compared with that, and only the
//! difference is sent: a flag the user set on the target, and that the source never changed,
//! stays as the user left it.

use std::collections::BTreeSet;

/// System flags we carry (RFC 3501 §2.3.2). `\Recent` is session state and never copied.
const SYSTEM: [&str; 5] = ["\\Answered", "\\Deleted", "\\Draft", "\\Flagged", "\\Seen"];

/// A set of flags in canonical spelling, ordered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub struct FlagSet(BTreeSet<String>);

impl FlagSet {
    /// Builds a set from flags as a server reported them; drops `\Recent` and anything that
    /// is not a valid flag atom.
    pub fn from_flags<I, S>(flags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for f in flags {
            if let Some(c) = canonical(f.as_ref()) {
                set.insert(c);
            }
        }
        FlagSet(set)
    }

    /// Parses the stored form (space-separated).
    pub fn parse(stored: &str) -> Self {
        Self::from_flags(stored.split_ascii_whitespace())
    }

    /// The stored form: space-separated, sorted.
    pub fn to_stored(&self) -> String {
        self.0.iter().cloned().collect::<Vec<_>>().join(" ")
    }

    /// The flags in canonical spelling, in byte order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether the set holds no flag at all (no system flag, no keyword).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the set holds `f` exactly as spelled: system flags must be given in their
    /// canonical case (`\Seen`, not `\SEEN`), keywords compare case-sensitively.
    pub fn contains(&self, f: &str) -> bool {
        self.0.contains(f)
    }

    /// Adds a flag in its canonical spelling; `\Recent`, unknown system flags and non-atoms
    /// are ignored, as in [`FlagSet::from_flags`].
    pub fn insert(&mut self, f: &str) {
        if let Some(c) = canonical(f) {
            self.0.insert(c);
        }
    }

    /// Removes a flag, matched by its canonical spelling (so `\SEEN` removes `\Seen`).
    pub fn remove(&mut self, f: &str) {
        if let Some(c) = canonical(f) {
            self.0.remove(&c);
        }
    }

    /// Keywords (flags without a backslash).
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.iter().filter(|f| !f.starts_with('\\'))
    }

    /// What the target may hold: system flags always; keywords only when `keywords_allowed`
    /// (an IMAP target whose PERMANENTFLAGS holds `\*`, RFC 3501 §7.1) or listed by name.
    pub fn for_target(&self, keywords_allowed: bool, permanent: &FlagSet) -> FlagSet {
        FlagSet(
            self.0
                .iter()
                .filter(|f| f.starts_with('\\') || keywords_allowed || permanent.contains(f))
                .cloned()
                .collect(),
        )
    }

    /// The flags in either set.
    pub fn union(&self, other: &FlagSet) -> FlagSet {
        FlagSet(self.0.union(&other.0).cloned().collect())
    }

    /// The flags of `self` that `other` does not hold.
    pub fn minus(&self, other: &FlagSet) -> FlagSet {
        FlagSet(self.0.difference(&other.0).cloned().collect())
    }
}

/// Canonical spelling of a flag: system flags with their RFC case, keywords as given. `None`
/// for `\Recent`, unknown backslash flags, and strings that are not atoms.
fn canonical(f: &str) -> Option<String> {
    let f = f.trim();
    if f.is_empty() {
        return None;
    }
    if let Some(rest) = f.strip_prefix('\\') {
        return SYSTEM
            .iter()
            .find(|s| s[1..].eq_ignore_ascii_case(rest))
            .map(|s| (*s).to_string());
    }
    // atom-specials (RFC 3501 §9): a keyword containing them cannot be sent back.
    if f.bytes()
        .any(|b| b <= b' ' || b >= 0x7f || b"(){%*\"\\]".contains(&b))
    {
        return None;
    }
    Some(f.to_string())
}

/// The change to send to the target for one message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub struct FlagDelta {
    /// Flags the source gained since they were last applied (`UID STORE +FLAGS` on an IMAP
    /// target).
    pub add: FlagSet,
    /// Flags the source lost since they were last applied (`UID STORE -FLAGS`).
    pub remove: FlagSet,
}

impl FlagDelta {
    /// Whether the source's flags did not change, so nothing is sent to the target.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// Applies the delta to the flags a target message has now.
    pub fn apply(&self, current: &FlagSet) -> FlagSet {
        current.union(&self.add).minus(&self.remove)
    }
}

/// The three-way difference: `last_applied` is what we set on the target last time (the row's
/// `flags`), `source_now` the source's flags now, both already restricted to what the target
/// can hold. Returns the delta and the new value of the row.
pub fn delta(last_applied: &FlagSet, source_now: &FlagSet) -> FlagDelta {
    FlagDelta {
        add: source_now.minus(last_applied),
        remove: last_applied.minus(source_now),
    }
}

/// Maildir info letters (`:2,` suffix, sorted) for the system flags, per the Maildir spec
/// (cr.yp.to/proto/maildir.html) and Dovecot: D draft, F flagged, R replied, S seen, T trashed.
pub fn maildir_letters(flags: &FlagSet) -> String {
    let mut s = String::new();
    for (flag, letter) in [
        ("\\Draft", 'D'),
        ("\\Flagged", 'F'),
        ("\\Answered", 'R'),
        ("\\Seen", 'S'),
        ("\\Deleted", 'T'),
    ] {
        if flags.contains(flag) {
            s.push(letter);
        }
    }
    s
}

/// The system flags a Maildir info suffix holds (unknown letters, e.g. keyword letters a-z,
/// are returned separately).
pub fn from_maildir_letters(info: &str) -> (FlagSet, Vec<char>) {
    let mut set = FlagSet::default();
    let mut other = Vec::new();
    for c in info.chars() {
        match c {
            'D' => set.insert("\\Draft"),
            'F' => set.insert("\\Flagged"),
            'R' => set.insert("\\Answered"),
            'S' => set.insert("\\Seen"),
            'T' => set.insert("\\Deleted"),
            c => other.push(c),
        }
    }
    (set, other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(s: &str) -> FlagSet {
        FlagSet::parse(s)
    }

    #[test]
    fn normalisation() {
        let f = FlagSet::from_flags([
            "\\seen",
            "\\Recent",
            "$Label1",
            "\\FLAGGED",
            "bad(kw",
            "\\X",
        ]);
        assert_eq!(f.to_stored(), "$Label1 \\Flagged \\Seen");
        assert_eq!(FlagSet::parse(&f.to_stored()), f);
        assert_eq!(
            f.for_target(false, &FlagSet::default()).to_stored(),
            "\\Flagged \\Seen"
        );
        assert_eq!(
            f.for_target(false, &fs("$Label1")).to_stored(),
            f.to_stored()
        );
    }

    #[test]
    fn three_way_keeps_target_changes() {
        // We applied \Seen; the user flagged it on the target (not visible here); the source
        // then answered it and unread it.
        let d = delta(&fs("\\Seen"), &fs("\\Answered"));
        assert_eq!(d.add, fs("\\Answered"));
        assert_eq!(d.remove, fs("\\Seen"));
        let on_target = fs("\\Seen \\Flagged");
        assert_eq!(d.apply(&on_target), fs("\\Answered \\Flagged"));
        assert!(delta(&fs("\\Seen"), &fs("\\Seen")).is_empty());
    }

    #[test]
    fn maildir_letters_round_trip() {
        let f = fs("\\Seen \\Answered \\Draft \\Flagged \\Deleted kw");
        assert_eq!(maildir_letters(&f), "DFRST");
        let (back, other) = from_maildir_letters("DFRSTa");
        assert_eq!(back, fs("\\Seen \\Answered \\Draft \\Flagged \\Deleted"));
        assert_eq!(other, vec!['a']);
    }
}
