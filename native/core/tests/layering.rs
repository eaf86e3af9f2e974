//! The dependency rule of `src/lib.rs` and `docs/design.md` ("Crates"), checked on the source.
//!
//! Module level: every `.rs` file under `src/` is tokenized (comments and literals dropped) and
//! each reference that leaves its top-level module is an edge: `crate::x`, each item of
//! `use crate::{x, y::z}`, a `super::` path that climbs to the crate root, `imapmigration::x`
//! from the binary, and the crates `imapmigration_imap` / `imapmigration_store`. Each edge must
//! be allowed by [`LAYERS`] and [`ROOT_ITEMS`].
//!
//! Crate level: the `[dependencies]` of every workspace member name only the workspace crates
//! [`CRATES`] allows it.
//!
//! A name the tables do not know (a new top-level module, a new crate) fails the check too: the
//! rule has to say where it sits before code may use it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers of the core crate, top first. A unit may use any unit of a later layer, never
/// one of its own layer (the units of a layer are independent of each other) or of an earlier
/// one. `bin` is the binary: `main.rs` and its `cli` module.
const LAYERS: &[&[&str]] = &[
    &["ffi", "bin"],
    &["console"],
    &["api", "worker"],
    &["engine", "process"],
    &["imap", "store"],
];

/// Units that may use only the units named here (and the crate-root items), whatever their
/// layer allows: the console reaches the engine, the store and the worker only through the
/// api's operations, so no rule gets a second implementation there.
const ONLY: &[(&str, &[&str])] = &[("console", &["api"])];

/// Crate-root items and root modules: usable by every unit. They themselves use only each
/// other and the crates of the last layer, or "usable by all" would hide a cycle.
const ROOT_ITEMS: &[&str] = &["VERSION", "ABI_VERSION", "error_code", "ErrorCode"];

/// Edges against the rule that are being removed elsewhere. An entry that no longer matches an
/// edge fails the check, so the list shrinks as the code catches up.
const PENDING: &[(&str, &str, &str)] = &[];

/// Workspace crates each workspace crate may name in `[dependencies]` (dev-dependencies may
/// add the testkit).
const CRATES: &[(&str, &[&str])] = &[
    ("imapmigration-imap", &[]),
    ("imapmigration-store", &[]),
    ("imapmigration-testkit", &[]),
    (
        "imapmigration",
        &["imapmigration-imap", "imapmigration-store"],
    ),
    ("imapmigration-abi-host", &[]),
    (
        "imapmigration-bench",
        &["imapmigration-testkit", "imapmigration-abi-host"],
    ),
];

// ---- the checks --------------------------------------------------------------------------------

#[test]
fn module_edges_follow_the_dependency_rule() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_rs(&src, &mut files);
    assert!(files.len() > 20, "too few sources under {}", src.display());
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(src.parent().unwrap()).unwrap();
            let text = std::fs::read_to_string(p).unwrap();
            (rel.to_string_lossy().replace('\\', "/"), text)
        })
        .collect();
    let edges: Vec<Edge> = sources
        .iter()
        .flat_map(|(path, text)| edges_of(path, text))
        .collect();
    // A checker that finds nothing would pass anything: these edges exist by design.
    for (from, to) in [
        ("ffi", "api"),
        ("api", "engine"),
        ("api", "process"),
        ("worker", "engine"),
        ("worker", "process"),
        ("bin", "worker"),
        ("bin", "console"),
        ("console", "api"),
    ] {
        assert!(
            edges.iter().any(|e| e.from == from && e.to == to),
            "no {from} -> {to} edge found: the checker is blind"
        );
    }

    let mut failures = Vec::new();
    let mut pending_used = BTreeSet::new();
    for e in &edges {
        let Err(why) = allowed(&e.from, &e.to) else {
            continue;
        };
        if let Some(i) = PENDING
            .iter()
            .position(|(file, to, _)| *file == e.file && *to == e.to)
        {
            pending_used.insert(i);
            continue;
        }
        failures.push(format!("{e}: {why}"));
    }
    for (i, (file, to, reason)) in PENDING.iter().enumerate() {
        if !pending_used.contains(&i) {
            failures.push(format!(
                "{file} no longer uses {to} ({reason}): remove its entry from PENDING"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "edges against the dependency rule:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn crate_dependencies_follow_the_dependency_rule() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = workspace_members(&workspace);
    assert!(members.len() >= 3, "no workspace members found");
    let manifests: Vec<(String, Manifest)> = members
        .iter()
        .map(|m| {
            let text = std::fs::read_to_string(root.join(m).join("Cargo.toml")).unwrap();
            (m.clone(), parse_manifest(&text))
        })
        .collect();
    let ours: BTreeSet<&str> = manifests.iter().map(|(_, m)| m.name.as_str()).collect();
    let failures = crate_violations(&manifests, &ours);
    assert!(
        failures.is_empty(),
        "crate dependencies against the rule:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn the_rule_is_stated_once_word_for_word() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(core.join("src/lib.rs")).unwrap();
    let lib: String = lib
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    let design = std::fs::read_to_string(core.join("../../docs/design.md")).unwrap();
    let (in_lib, in_design) = (rule_statement(&lib), rule_statement(&design));
    assert!(
        in_lib.contains("`process`") && in_lib.contains("`ABI_VERSION`"),
        "no rule statement in lib.rs: {in_lib:?}"
    );
    assert_eq!(
        in_lib, in_design,
        "lib.rs and docs/design.md state different rules"
    );
}

/// The paragraph that starts with "Dependency rule:", whitespace folded.
fn rule_statement(text: &str) -> String {
    let Some(start) = text.find("Dependency rule:") else {
        return String::new();
    };
    let para = text[start..].split("\n\n").next().unwrap_or("");
    para.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---- the checker checks itself -----------------------------------------------------------------

#[test]
fn checker_reports_forbidden_edges_and_ignores_comments_and_literals() {
    let engine = "\
use crate::{api::Request, process, VERSION};
// crate::worker only in a comment
/* and crate::worker /* nested */ in a block */
const S: &str = \"crate::worker\";
const R: &str = r#\"super::super::worker\"#;
fn f<'a>(c: char) -> bool { c == '\"' || super::super::worker::busy() }
pub(super) fn g() { super::plan::x(); }
mod tests {
    use super::*;
    fn h() { super::super::super::ffi::call(); }
}
";
    let sources = [
        ("src/engine/copy.rs", engine),
        (
            "src/worker/mod.rs",
            "use crate::{engine::{self, Progress}, api};",
        ),
        (
            "src/api/batch.rs",
            "use crate::engine::Progress;\nuse imapmigration_store as store;\nfn v() -> u32 { crate::ABI_VERSION }",
        ),
        ("src/process/lock.rs", "use imapmigration_imap::Error;"),
        (
            "src/main.rs",
            "fn main() { imapmigration::worker::run(); crate::cli::go(); }",
        ),
        ("src/cli/mod.rs", "use imapmigration::ffi::mig_call;"),
        (
            "src/error_code.rs",
            "impl From<crate::engine::Error> for ErrorCode {}",
        ),
        ("src/console/mod.rs", "use crate::{api, worker};"),
    ];
    let found: Vec<String> = sources
        .iter()
        .flat_map(|(p, t)| edges_of(p, t))
        .filter(|e| allowed(&e.from, &e.to).is_err())
        .map(|e| format!("{}:{} {} -> {}", e.file, e.line, e.from, e.to))
        .collect();
    assert_eq!(
        found,
        [
            "src/engine/copy.rs:1 engine -> api",
            "src/engine/copy.rs:1 engine -> process",
            "src/engine/copy.rs:6 engine -> worker",
            "src/engine/copy.rs:10 engine -> ffi",
            "src/worker/mod.rs:1 worker -> api",
            "src/cli/mod.rs:1 bin -> ffi",
            "src/error_code.rs:1 root -> engine",
            "src/console/mod.rs:1 console -> worker",
        ]
    );
    let allowed_edges: Vec<String> = sources
        .iter()
        .flat_map(|(p, t)| edges_of(p, t))
        .filter(|e| allowed(&e.from, &e.to).is_ok())
        .map(|e| format!("{} -> {}", e.from, e.to))
        .collect();
    assert_eq!(
        allowed_edges,
        [
            "engine -> VERSION",
            "worker -> engine",
            "api -> engine",
            "api -> store",
            "api -> ABI_VERSION",
            "process -> imap",
            "bin -> worker",
            "console -> api",
        ]
    );
}

#[test]
fn checker_reports_workspace_crates_outside_the_table() {
    let manifests = [
        (
            "native/imap".to_string(),
            parse_manifest(
                "[package]\nname = \"imapmigration-imap\"\n\n[dependencies]\ntokio.workspace = true\nimapmigration-store = { path = \"../store\" }\n\n[dev-dependencies]\nimapmigration-testkit = { path = \"../testkit\" }\n",
            ),
        ),
        (
            "native/store".to_string(),
            parse_manifest(
                "[package]\nname = \"imapmigration-store\"\n[target.'cfg(unix)'.dependencies]\nimapmigration-imap = { path = \"../imap\" }\n[dev-dependencies]\nimapmigration = { path = \"../core\" }\n",
            ),
        ),
        (
            "native/testkit".to_string(),
            parse_manifest("[package]\nname = \"imapmigration-testkit\"\n"),
        ),
    ];
    let ours = BTreeSet::from([
        "imapmigration-imap",
        "imapmigration-store",
        "imapmigration-testkit",
        "imapmigration",
    ]);
    assert_eq!(
        crate_violations(&manifests, &ours),
        [
            "native/imap depends on imapmigration-store; the rule allows only: (none)",
            "native/store depends on imapmigration-imap; the rule allows only: (none)",
            "native/store has a dev-dependency on imapmigration; only the testkit is allowed",
        ]
    );
}

// ---- the rule as a function ---------------------------------------------------------------------

fn layer_of(unit: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&unit))
}

/// Whether `from` may use `to`; the reason when not.
fn allowed(from: &str, to: &str) -> Result<(), String> {
    if from == to || ROOT_ITEMS.contains(&to) {
        return Ok(());
    }
    let to_layer =
        layer_of(to).ok_or_else(|| format!("`{to}` is not in the rule's table (LAYERS)"))?;
    if let Some((_, only)) = ONLY.iter().find(|(unit, _)| *unit == from)
        && !only.contains(&to)
    {
        return Err(format!("{from} may use only {}", only.join(", ")));
    }
    if from == "root" {
        return if to_layer == LAYERS.len() - 1 {
            Ok(())
        } else {
            Err(format!(
                "crate-root items are usable by all, so they use only each other and the crates, not `{to}`"
            ))
        };
    }
    let from_layer =
        layer_of(from).ok_or_else(|| format!("`{from}` is not in the rule's table (LAYERS)"))?;
    match from_layer.cmp(&to_layer) {
        std::cmp::Ordering::Less => Ok(()),
        std::cmp::Ordering::Equal => Err(format!(
            "{from} and {to} are one layer; neither may use the other"
        )),
        std::cmp::Ordering::Greater => Err(format!("{to} is above {from}")),
    }
}

// ---- edges from source text ----------------------------------------------------------------------

/// One reference from a file's top-level module to another unit.
#[derive(Debug)]
struct Edge {
    file: String,
    line: usize,
    from: String,
    to: String,
}

impl std::fmt::Display for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {} -> {}",
            self.file, self.line, self.from, self.to
        )
    }
}

/// `src/...` path -> (the unit it belongs to, its module depth below the crate root, whether it
/// is part of the binary).
fn unit_of(path: &str) -> (String, usize, bool) {
    let rel = path.strip_prefix("src/").unwrap_or(path);
    let parts: Vec<&str> = rel.split('/').collect();
    let stem = |s: &str| s.trim_end_matches(".rs").to_string();
    let mut modules: Vec<String> = parts.iter().map(|p| stem(p)).collect();
    if modules.last().is_some_and(|m| m == "mod") {
        modules.pop();
    }
    if modules == ["lib"] || modules == ["main"] {
        modules.clear();
    }
    let binary = rel == "main.rs" || modules.first().is_some_and(|m| m == "cli");
    let unit = match modules.first() {
        _ if binary => "bin".to_string(),
        None => "root".to_string(),
        Some(m) if ROOT_ITEMS.contains(&m.as_str()) => "root".to_string(),
        Some(m) => m.clone(),
    };
    (unit, modules.len(), binary)
}

/// A reference's first path segment below a crate root -> the unit it names.
fn target_at_root(name: &str, binary_root: bool) -> String {
    if binary_root {
        "bin".to_string()
    } else {
        name.to_string()
    }
}

/// Every edge of one file that leaves its top-level module.
fn edges_of(path: &str, text: &str) -> Vec<Edge> {
    let (from, file_depth, binary) = unit_of(path);
    let toks = tokenize(text);
    let mut edges = Vec::new();
    let mut push = |line: usize, to: String| {
        if to != from {
            edges.push(Edge {
                file: path.to_string(),
                line,
                from: from.clone(),
                to,
            });
        }
    };
    // Inline `mod name { .. }` blocks: the brace depth at which each one opened.
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let (line, t) = (toks[i].line, toks[i].text.as_str());
        let prev = i.checked_sub(1).map(|p| toks[p].text.as_str());
        let at_path_start = prev != Some("::") && prev != Some("$") && prev != Some(".");
        match t {
            "{" => braces += 1,
            "}" => {
                braces = braces.saturating_sub(1);
                if inline_mods.last() == Some(&braces) {
                    inline_mods.pop();
                }
            }
            "mod" if toks.get(i + 2).is_some_and(|n| n.text == "{") => {
                inline_mods.push(braces);
            }
            "crate" | "imapmigration" if at_path_start && next_is(&toks, i, "::") => {
                let binary_root = t == "crate" && binary;
                for name in names_after(&toks, i + 2) {
                    push(line, target_at_root(&name, binary_root));
                }
            }
            "super" if at_path_start && next_is(&toks, i, "::") => {
                let mut k = 1;
                let mut j = i + 2;
                while toks.get(j).is_some_and(|t| t.text == "super") && next_is(&toks, j, "::") {
                    k += 1;
                    j += 2;
                }
                if k >= file_depth + inline_mods.len() {
                    for name in names_after(&toks, j) {
                        push(line, target_at_root(&name, binary));
                    }
                }
                i = j;
                continue;
            }
            "imapmigration_imap" if at_path_start => push(line, "imap".into()),
            "imapmigration_store" if at_path_start => push(line, "store".into()),
            _ => {}
        }
        i += 1;
    }
    edges
}

fn next_is(toks: &[Token], i: usize, text: &str) -> bool {
    toks.get(i + 1).is_some_and(|t| t.text == text)
}

/// The first segment of the path at `toks[i]`, or of each item of the group `{ a, b::c }` there.
fn names_after(toks: &[Token], i: usize) -> Vec<String> {
    let Some(first) = toks.get(i) else {
        return Vec::new();
    };
    if first.text != "{" {
        return vec![first.text.clone()];
    }
    let mut names = Vec::new();
    let mut depth = 0;
    let mut expect_name = true;
    for t in &toks[i..] {
        match t.text.as_str() {
            "{" => {
                depth += 1;
                expect_name = depth == 1;
            }
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            "," if depth == 1 => expect_name = true,
            name if expect_name && depth == 1 => {
                if name != "self" {
                    names.push(name.to_string());
                }
                expect_name = false;
            }
            _ => {}
        }
    }
    names
}

/// A token and the line it starts on. Only identifiers and punctuation survive: comments,
/// strings, chars, lifetimes and numbers are dropped, so a path inside them is no edge.
struct Token {
    line: usize,
    text: String,
}

fn tokenize(text: &str) -> Vec<Token> {
    let c: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let is_ident_start = |ch: char| ch.is_alphabetic() || ch == '_';
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    // Skips to just past `end` (a quote), honouring backslash escapes; counts lines.
    let skip_quoted = |i: &mut usize, line: &mut usize, end: char| {
        while *i < c.len() && c[*i] != end {
            if c[*i] == '\\' {
                *i += 1;
            }
            if *i < c.len() && c[*i] == '\n' {
                *line += 1;
            }
            *i += 1;
        }
        *i += 1;
    };
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_at(&c, i) {
            // r"..", r#".."#, br#".."#: no escapes; ends at a quote followed by the hashes.
            i += c[i..].iter().position(|&q| q == '"').unwrap_or(0) + 1;
            while i < c.len() {
                if c[i] == '"'
                    && c[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    i += 1 + hashes;
                    break;
                }
                if c[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
        } else if ch == '"' || (ch == 'b' && next == Some('"')) {
            i += if ch == 'b' { 2 } else { 1 };
            skip_quoted(&mut i, &mut line, '"');
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a, 'static).
            if next == Some('\\') || c.get(i + 2) == Some(&'\'') {
                i += 1;
                skip_quoted(&mut i, &mut line, '\'');
            } else {
                i += 1;
                while i < c.len() && is_ident(c[i]) {
                    i += 1;
                }
            }
        } else if ch.is_ascii_digit() {
            while i < c.len()
                && (is_ident(c[i]) || c[i] == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit))
            {
                i += 1;
            }
        } else if is_ident_start(ch) {
            let start = if ch == 'r' && next == Some('#') {
                i + 2
            } else {
                i
            };
            i = start;
            while i < c.len() && is_ident(c[i]) {
                i += 1;
            }
            toks.push(Token {
                line,
                text: c[start..i].iter().collect(),
            });
        } else if ch == ':' && next == Some(':') {
            toks.push(Token {
                line,
                text: "::".into(),
            });
            i += 2;
        } else {
            toks.push(Token {
                line,
                text: ch.to_string(),
            });
            i += 1;
        }
    }
    toks
}

/// The number of `#` of a raw string literal starting at `i`, if one does.
fn raw_string_at(c: &[char], i: usize) -> Option<usize> {
    if i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if c.get(j) == Some(&'b') {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = c[j..].iter().take_while(|&&h| h == '#').count();
    (c.get(j + hashes) == Some(&'"')).then_some(hashes)
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

// ---- crate dependencies from Cargo.toml ----------------------------------------------------------

/// What the check needs of a manifest: the package name and the dependency names by kind.
struct Manifest {
    name: String,
    normal: Vec<String>,
    dev: Vec<String>,
}

/// `members = [..]` of the workspace manifest.
fn workspace_members(text: &str) -> Vec<String> {
    let start = text.find("members").expect("workspace members");
    let open = start + text[start..].find('[').unwrap();
    let close = open + text[open..].find(']').unwrap();
    text[open + 1..close]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// A line-based reading of the tables the check needs: `[package]` name, `[dependencies]`,
/// `[build-dependencies]`, `[target.'..'.dependencies]` (normal) and `[dev-dependencies]`.
fn parse_manifest(text: &str) -> Manifest {
    #[derive(PartialEq)]
    enum Section {
        Package,
        Normal,
        Dev,
        Other,
    }
    let mut m = Manifest {
        name: String::new(),
        normal: Vec::new(),
        dev: Vec::new(),
    };
    let mut section = Section::Other;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_end_matches(']');
            section = if header == "package" {
                Section::Package
            } else if header == "dev-dependencies" || header.ends_with(".dev-dependencies") {
                Section::Dev
            } else if header == "dependencies"
                || header == "build-dependencies"
                || header.ends_with(".dependencies")
                || header.ends_with(".build-dependencies")
            {
                Section::Normal
            } else {
                Section::Other
            };
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        match section {
            Section::Package if key == "name" => m.name = value.trim().trim_matches('"').into(),
            Section::Normal | Section::Dev => {
                let dep = key.split('.').next().unwrap_or(key).trim().to_string();
                if section == Section::Normal {
                    m.normal.push(dep);
                } else {
                    m.dev.push(dep);
                }
            }
            _ => {}
        }
    }
    m
}

fn crate_violations(manifests: &[(String, Manifest)], ours: &BTreeSet<&str>) -> Vec<String> {
    let mut failures = Vec::new();
    for (dir, m) in manifests {
        let Some((_, may)) = CRATES.iter().find(|(name, _)| *name == m.name) else {
            failures.push(format!(
                "{dir}: crate {} is not in the rule's table (CRATES)",
                m.name
            ));
            continue;
        };
        for dep in m.normal.iter().filter(|d| ours.contains(d.as_str())) {
            if !may.contains(&dep.as_str()) {
                let list = if may.is_empty() {
                    "(none)".to_string()
                } else {
                    may.join(", ")
                };
                failures.push(format!(
                    "{dir} depends on {dep}; the rule allows only: {list}"
                ));
            }
        }
        for dep in m.dev.iter().filter(|d| ours.contains(d.as_str())) {
            if dep != "imapmigration-testkit" && !may.contains(&dep.as_str()) {
                failures.push(format!(
                    "{dir} has a dev-dependency on {dep}; only the testkit is allowed"
                ));
            }
        }
    }
    failures
}
