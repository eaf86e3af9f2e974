use super::*;

#[test]
fn statuses_parse_case_insensitively_and_print_exactly() {
    assert_eq!(
        "syncedwitherrors".parse::<BatchStatus>(),
        Ok(BatchStatus::SyncedWithErrors)
    );
    assert_eq!(" QUEUED ".parse::<UserStatus>(), Ok(UserStatus::Queued));
    assert!("Nope".parse::<UserStatus>().is_err());
    for s in BatchStatus::ALL {
        assert_eq!(s.as_str().parse::<BatchStatus>(), Ok(*s));
        assert_eq!(
            serde_json::to_string(s).expect("json"),
            format!("\"{}\"", s.as_str())
        );
    }
    assert_eq!(BatchAction::SyncNow.as_str(), "syncnow");
    assert_eq!(SecurityMode::None.to_string(), "None");
}

#[test]
fn user_status_summary_follows_design() {
    use UserStatus::*;
    for s in [Queued, Starting, Syncing, Completing, Stopping, Removing] {
        assert_eq!(s.summary(), StatusSummary::Active);
    }
    assert_eq!(Synced.summary(), StatusSummary::Synced);
    assert_eq!(IncrementalFailed.summary(), StatusSummary::Failed);
    assert_eq!(IncrementalStopped.summary(), StatusSummary::Stopped);
    // As Exchange rolls them up (docs/compatibility.md §8.4).
    assert_eq!(IncrementalSyncing.summary(), StatusSummary::Synced);
    assert_eq!(CompletedWithWarnings.summary(), StatusSummary::Failed);
    assert_eq!(
        StatusSummary::Failed.statuses(),
        vec![Failed, IncrementalFailed, CompletedWithWarnings]
    );
    assert_eq!(
        StatusSummary::Synced.statuses(),
        vec![Synced, IncrementalSyncing]
    );
}

#[test]
fn validation_warning_uses_exchange_names() {
    let w = ValidationWarning {
        row_index: 2,
        email_address: "a@b.c".into(),
        message: "m".into(),
    };
    let json = serde_json::to_value(&w).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"RowIndex": 2, "EmailAddress": "a@b.c", "LocalizedErrorMessage": "m"})
    );
}

#[test]
fn records_never_serialize_secrets() {
    let mut e = EndpointRecord::new("src", "imap.example.com");
    e.admin_secret = Some(Sealed(b"SEALEDBYTES".to_vec()));
    let json = serde_json::to_string(&e).expect("json");
    assert!(!json.contains("admin_secret"));
}
