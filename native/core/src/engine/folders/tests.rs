//! Folder planning and selection against the layouts real servers use.

use super::*;

fn l(name: &str, d: char, role: Option<Role>) -> Listed {
    Listed {
        name: name.into(),
        delimiter: Some(d),
        noselect: false,
        role,
    }
}
fn ns(p: &str, d: char) -> Ns {
    Ns {
        prefix: p.into(),
        delimiter: Some(d),
    }
}
fn find<'a>(plans: &'a [FolderPlan], src: &str) -> &'a FolderPlan {
    plans
        .iter()
        .find(|p| p.source_name == src)
        .unwrap_or_else(|| panic!("no plan for {src}"))
}
fn v(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}
fn exchange_like() -> TargetLayout {
    let listed = vec![
        l("INBOX", '/', None),
        l("Sent Items", '/', Some(Role::Sent)),
        l("Deleted Items", '/', Some(Role::Trash)),
        l("Junk Email", '/', Some(Role::Junk)),
        l("Drafts", '/', Some(Role::Drafts)),
    ];
    TargetLayout::from_imap(&listed, Some(&ns("", '/')))
}

#[test]
fn dovecot_special_use_onto_exchange_names() {
    let src = vec![
        l("INBOX", '/', None),
        l("Sent", '/', Some(Role::Sent)),
        l("Sent/2019", '/', None),
        l("Trash", '/', Some(Role::Trash)),
        l("Archive", '/', Some(Role::Archive)),
        l("Projects/a.b", '/', None),
        Listed {
            name: "Projects".into(),
            delimiter: Some('/'),
            noselect: true,
            role: None,
        },
    ];
    let n = Namespaces {
        personal: vec![ns("", '/')],
        ..Default::default()
    };
    let plans = plan_folders(&src, &n, None, false, &exchange_like());
    assert_eq!(find(&plans, "INBOX").target, v(&["INBOX"]));
    assert_eq!(find(&plans, "Sent").target, v(&["Sent Items"]));
    assert_eq!(find(&plans, "Sent/2019").target, v(&["Sent Items", "2019"]));
    assert_eq!(find(&plans, "Trash").target, v(&["Deleted Items"]));
    // The target has no \Archive: the source's own name.
    assert_eq!(find(&plans, "Archive").target, v(&["Archive"]));
    assert_eq!(find(&plans, "Projects/a.b").target, v(&["Projects", "a.b"]));
    assert!(find(&plans, "Projects").noselect);
}

#[test]
fn courier_prefix_and_names_without_special_use() {
    let src = vec![
        l("INBOX", '.', None),
        l("INBOX.Sent Items", '.', None),
        l("INBOX.Deleted Items", '.', None),
        l("INBOX.Spam", '.', None),
        l("INBOX.Work.2020", '.', None),
        l("INBOX.Sent", '.', None),
        l("#shared.team", '.', None),
    ];
    let n = Namespaces {
        personal: vec![ns("INBOX.", '.')],
        shared: vec![ns("#shared.", '.')],
        ..Default::default()
    };
    let t = TargetLayout::maildir();
    let plans = plan_folders(&src, &n, None, false, &t);
    assert_eq!(plans.len(), 6, "{plans:?}");
    assert_eq!(find(&plans, "INBOX.Sent Items").target, v(&["Sent"]));
    assert_eq!(find(&plans, "INBOX.Sent Items").rel, v(&["Sent Items"]));
    // The role went to the first: the second keeps its name (and merges by name).
    assert_eq!(find(&plans, "INBOX.Sent").role, None);
    assert_eq!(find(&plans, "INBOX.Deleted Items").target, v(&["Trash"]));
    assert_eq!(find(&plans, "INBOX.Spam").target, v(&["Junk"]));
    assert_eq!(find(&plans, "INBOX.Work.2020").target, v(&["Work", "2020"]));
    let plans = plan_folders(&src, &n, None, true, &t);
    assert_eq!(find(&plans, "#shared.team").target, v(&["#shared", "team"]));
}

#[test]
fn other_users_skipped_and_user_root() {
    let src = vec![
        l("INBOX", '/', None),
        l("Other Users/bob/INBOX", '/', None),
        l("Other Users/bob/Sent", '/', None),
        l("Mine", '/', None),
    ];
    let n = Namespaces {
        personal: vec![ns("", '/')],
        other_users: vec![ns("Other Users/", '/')],
        ..Default::default()
    };
    let t = TargetLayout::maildir();
    let plans = plan_folders(&src, &n, None, false, &t);
    assert_eq!(
        plans
            .iter()
            .map(|p| p.source_name.as_str())
            .collect::<Vec<_>>(),
        ["INBOX", "Mine"]
    );
    let plans = plan_folders(&src, &n, Some("Other Users/bob"), false, &t);
    assert_eq!(find(&plans, "Other Users/bob/INBOX").target, v(&["INBOX"]));
    assert_eq!(find(&plans, "Other Users/bob/Sent").target, v(&["Sent"]));
    assert_eq!(plans.len(), 2);
}

#[test]
fn target_with_prefix_and_dot_separator() {
    let tl = vec![
        l("INBOX", '.', None),
        l("INBOX.Sent", '.', Some(Role::Sent)),
    ];
    let t = TargetLayout::from_imap(&tl, Some(&ns("INBOX.", '.')));
    assert_eq!(t.prefix, v(&["INBOX"]));
    let src = vec![
        l("INBOX", '/', None),
        l("Sent", '/', Some(Role::Sent)),
        l("A/b.c", '/', None),
    ];
    let n = Namespaces {
        personal: vec![ns("", '/')],
        ..Default::default()
    };
    let plans = plan_folders(&src, &n, None, false, &t);
    assert_eq!(find(&plans, "Sent").target, v(&["INBOX", "Sent"]));
    // The target's separator inside a name cannot stay: the plan carries the safe name.
    assert_eq!(find(&plans, "A/b.c").target, v(&["INBOX", "A", "b_c"]));
    assert!(find(&plans, "A/b.c").renamed);
    assert_eq!(t.join(&find(&plans, "A/b.c").target), "INBOX.A.b_c");
}

fn sample() -> Vec<FolderPlan> {
    let src = vec![
        l("INBOX", '/', None),
        l("INBOX/Sub", '/', None),
        l("Sent", '/', Some(Role::Sent)),
        l("Junk", '/', Some(Role::Junk)),
        l("Work", '/', None),
        l("Work/Old", '/', None),
        l("Workshop", '/', None),
        l("#Notes#", '/', None),
        l("Notes", '/', None),
    ];
    let n = Namespaces {
        personal: vec![ns("", '/')],
        ..Default::default()
    };
    plan_folders(&src, &n, None, false, &TargetLayout::maildir())
}

fn names(p: &[FolderPlan]) -> Vec<String> {
    let mut v: Vec<String> = p.iter().map(|p| p.source_name.clone()).collect();
    v.sort();
    v
}

#[test]
fn selection_exchange_syntax() {
    let sel = |inc: &[&str], exc: &[&str]| {
        let s = FolderSelection::parse(&v(inc), &v(exc), Some('/')).expect("valid");
        names(&s.apply(sample()))
    };
    assert_eq!(
        sel(&[], &["work"]),
        v(&[
            "#Notes#",
            "INBOX",
            "INBOX/Sub",
            "Junk",
            "Notes",
            "Sent",
            "Work/Old",
            "Workshop"
        ])
    );
    assert_eq!(
        sel(&[], &["Work/*"]),
        v(&[
            "#Notes#",
            "INBOX",
            "INBOX/Sub",
            "Junk",
            "Notes",
            "Sent",
            "Workshop"
        ])
    );
    assert_eq!(
        sel(&["#Inbox#/*", "#SentItems#"], &[]),
        v(&["INBOX", "INBOX/Sub", "Sent"])
    );
    assert_eq!(sel(&["#Inbox#"], &[]), v(&["INBOX"]));
    assert_eq!(
        sel(&[], &["#JunkEmail#", "#Notes#"]),
        v(&[
            "#Notes#",
            "INBOX",
            "INBOX/Sub",
            "Sent",
            "Work",
            "Work/Old",
            "Workshop"
        ])
    );
    assert_eq!(
        sel(&[], &["\\#Notes\\#"]),
        v(&[
            "INBOX",
            "INBOX/Sub",
            "Junk",
            "Notes",
            "Sent",
            "Work",
            "Work/Old",
            "Workshop"
        ])
    );
    assert_eq!(sel(&["#Root#/*"], &["#Inbox#/*"]).len(), 7);
    assert!(sel(&["#Root#"], &[]).is_empty());
    assert_eq!(sel(&["work/*"], &["work/old"]), v(&["Work"]));
    assert!(FolderSelection::parse(&v(&["#Bogus#"]), &[], Some('/')).is_err());
    assert!(FolderSelection::parse(&v(&["*"]), &[], Some('/')).is_err());
}

#[test]
fn selection_with_source_delimiter() {
    let src = vec![
        l("INBOX", '.', None),
        l("INBOX.A", '.', None),
        l("INBOX.A.B", '.', None),
    ];
    let n = Namespaces {
        personal: vec![ns("INBOX.", '.')],
        ..Default::default()
    };
    let plans = plan_folders(&src, &n, None, false, &TargetLayout::maildir());
    let s = FolderSelection::parse(&v(&["A.B"]), &[], Some('.')).expect("valid");
    assert_eq!(names(&s.apply(plans.clone())), v(&["INBOX.A.B"]));
    let s = FolderSelection::parse(&[], &v(&["A/*"]), Some('.')).expect("valid");
    assert_eq!(names(&s.apply(plans)), v(&["INBOX"]));
}

#[test]
fn creation_order_and_groups() {
    let plans = sample();
    let c = folders_to_create(&plans);
    let pos = |x: &[&str]| c.iter().position(|p| p == &v(x)).expect("present");
    assert!(pos(&["Work"]) < pos(&["Work", "Old"]));
    assert!(!c.contains(&v(&["INBOX"])));
    assert!(c.contains(&v(&["INBOX", "Sub"])));
    let groups = group_by_target(&plans);
    assert_eq!(groups.len(), plans.len());
}

fn plans_onto(src: &[Listed], d: char, target: &TargetLayout) -> Vec<FolderPlan> {
    let n = Namespaces {
        personal: vec![ns("", d)],
        ..Default::default()
    };
    plan_folders(src, &n, None, false, target)
}

#[test]
fn empty_levels_are_kept_apart_and_made_safe() {
    // A source whose separator is `/` listing `a//b` and `/`: neither merges into `a/b`,
    // neither is dropped.
    let src = vec![
        l("INBOX", '/', None),
        l("a/b", '/', None),
        l("a//b", '/', None),
        l("/", '/', None),
    ];
    let plans = plans_onto(&src, '/', &TargetLayout::maildir());
    assert_eq!(plans.len(), 4);
    assert_eq!(find(&plans, "a/b").target, v(&["a", "b"]));
    assert!(!find(&plans, "a/b").renamed);
    assert_eq!(find(&plans, "a//b").rel, v(&["a", "", "b"]));
    assert_eq!(find(&plans, "a//b").target, v(&["a", "_", "b"]));
    assert!(find(&plans, "a//b").renamed);
    assert_eq!(find(&plans, "/").target, v(&["_", "_"]));
    assert_eq!(group_by_target(&plans).len(), 4);
}

#[test]
fn the_targets_separator_inside_a_name_becomes_an_underscore_on_imap_only() {
    let src = vec![
        l("INBOX", '.', None),
        l("a/b", '.', None),
        l("a//b", '.', None),
        l("//", '.', None),
        l("P.C", '.', None),
    ];
    let imap_slash = TargetLayout::from_imap(&[l("INBOX", '/', None)], Some(&ns("", '/')));
    let plans = plans_onto(&src, '.', &imap_slash);
    assert_eq!(find(&plans, "a/b").target, v(&["a_b"]));
    assert_eq!(find(&plans, "a//b").target, v(&["a__b"]));
    assert_eq!(find(&plans, "//").target, v(&["__"]));
    assert_eq!(imap_slash.join(&find(&plans, "P.C").target), "P/C");
    assert!(find(&plans, "a/b").renamed && !find(&plans, "P.C").renamed);
    // The Maildir target keeps the `/` inside the name (escaped on disk).
    let plans = plans_onto(&src, '.', &TargetLayout::maildir());
    assert_eq!(find(&plans, "a/b").target, v(&["a/b"]));
    assert!(!find(&plans, "a/b").renamed);

    let dot = TargetLayout::from_imap(&[l("INBOX", '.', None)], Some(&ns("", '.')));
    let src = vec![
        l("INBOX", '/', None),
        l("..", '/', None),
        l(".hidden", '/', None),
        l("trail.", '/', None),
    ];
    let plans = plans_onto(&src, '/', &dot);
    assert_eq!(dot.join(&find(&plans, "..").target), "__");
    assert_eq!(dot.join(&find(&plans, ".hidden").target), "_hidden");
    assert_eq!(dot.join(&find(&plans, "trail.").target), "trail_");
}

#[test]
fn a_safe_name_that_meets_a_real_folder_gets_a_stable_tag() {
    let src = vec![
        l("INBOX", '.', None),
        l("a/b", '.', None),
        l("a_b", '.', None),
        l("a_b.x", '.', None),
    ];
    let imap_slash = TargetLayout::from_imap(&[l("INBOX", '/', None)], Some(&ns("", '/')));
    let plans = plans_onto(&src, '.', &imap_slash);
    let tagged = &find(&plans, "a/b").target;
    assert_eq!(tagged.len(), 1);
    assert!(tagged[0].starts_with("a_b~") && tagged[0].len() == "a_b~".len() + 8);
    assert_eq!(find(&plans, "a_b").target, v(&["a_b"]));
    assert_eq!(group_by_target(&plans).len(), 4);
    // The same on every pass.
    assert_eq!(&plans_onto(&src, '.', &imap_slash)[1].target, tagged);
}
