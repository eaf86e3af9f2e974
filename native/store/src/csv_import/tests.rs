use super::*;
use crate::ExposeSecret;

fn ok(bytes: &[u8]) -> ParsedCsv {
    match parse(bytes, false) {
        Ok(p) => p,
        Err(e) => panic!("expected success, got: {e}"),
    }
}

fn err(bytes: &[u8]) -> CsvError {
    match parse(bytes, false) {
        Ok(p) => panic!("expected an error, got {} rows", p.rows.len()),
        Err(e) => e,
    }
}

const BASIC: &str = "EmailAddress,UserName,Password\r\n\
    terrya@contoso.edu,terry.adams,1091990\r\n\
    annb@contoso.edu,ann.beebe,2111991\r\n";

#[test]
fn reads_basic_crlf_file() {
    let p = ok(BASIC.as_bytes());
    assert_eq!(p.rows.len(), 2);
    assert!(p.warnings.is_empty());
    assert_eq!(p.rows[0].row_index, 1);
    assert_eq!(p.rows[0].email_address, "terrya@contoso.edu");
    assert_eq!(p.rows[0].user_name, "terry.adams");
    assert_eq!(p.rows[0].password.expose_secret(), "1091990");
    assert_eq!(p.rows[0].user_root, None);
    assert_eq!(p.rows[1].row_index, 2);
    assert_eq!(p.encoding, "UTF-8");
    assert_eq!(p.delimiter, ',');
}

#[test]
fn reads_lf_and_trailing_blank_lines() {
    let p = ok(b"EmailAddress,UserName,Password\na@x.com,a,p1\nb@x.com,b,p2\n\n\n  \n");
    assert_eq!(p.rows.len(), 2);
    assert!(p.warnings.is_empty());
}

#[test]
fn excel_empty_rows_of_delimiters_are_skipped() {
    let p = ok(b"EmailAddress,UserName,Password\r\na@x.com,a,p1\r\n,,\r\nb@x.com,b,p2\r\n,,\r\n");
    assert_eq!(p.rows.len(), 2);
    assert_eq!(p.rows[1].row_index, 2, "blank rows are not counted");
}

#[test]
fn utf8_bom_is_stripped() {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(
        "EmailAddress,UserName,Password\r\njürgen@x.de,jürgen,pä\r\n".as_bytes(),
    );
    let p = ok(&bytes);
    assert_eq!(p.rows[0].email_address, "jürgen@x.de");
    assert_eq!(p.rows[0].password.expose_secret(), "pä");
}

#[test]
fn utf16le_and_be_with_bom() {
    let text = "EmailAddress,UserName,Password\r\nmüller@x.de,müller,geheim\r\n";
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    let p = ok(&le);
    assert_eq!(p.encoding, "UTF-16LE");
    assert_eq!(p.rows[0].user_name, "müller");
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
    let p = ok(&be);
    assert_eq!(p.rows[0].email_address, "müller@x.de");
}

#[test]
fn windows_1252_umlauts_fall_back() {
    // "Jürgen Müß" in Windows-1252: ü = 0xFC, ß = 0xDF; the password has € (0x80).
    let mut bytes = b"EmailAddress,UserName,Password\r\njuergen@x.de,J".to_vec();
    bytes.extend_from_slice(&[0xFC]);
    bytes.extend_from_slice(b"rgen M");
    bytes.extend_from_slice(&[0xFC, 0xDF]);
    bytes.extend_from_slice(b",pass");
    bytes.push(0x80);
    bytes.extend_from_slice(b"\r\n");
    let p = ok(&bytes);
    assert_eq!(p.encoding, "windows-1252");
    assert_eq!(p.rows[0].user_name, "Jürgen Müß");
    assert_eq!(p.rows[0].password.expose_secret(), "pass€");
}

#[test]
fn semicolon_delimiter_is_sniffed() {
    let p = ok(b"EmailAddress;UserName;Password;UserRoot\r\na@x.com;a,with,commas;p;/users/a\r\n");
    assert_eq!(p.delimiter, ';');
    assert_eq!(p.rows[0].user_name, "a,with,commas");
    assert_eq!(p.rows[0].user_root.as_deref(), Some("/users/a"));
}

#[test]
fn quoted_headers_and_fields() {
    let p = ok(b"\"EmailAddress\",\"UserName\",\"Password\"\r\n\"a@x.com\",\"contoso\\a\",\"p,\"\"q\"\"\"\r\n");
    assert_eq!(p.rows[0].user_name, "contoso\\a");
    assert_eq!(p.rows[0].password.expose_secret(), "p,\"q\"");
}

#[test]
fn headers_are_case_insensitive_and_trimmed_with_username_synonym() {
    let p = ok(b" emailaddress , Username ,PASSWORD,userroot\na@x.com,a,p,\n");
    assert_eq!(p.rows.len(), 1);
    assert_eq!(p.rows[0].user_root, None, "empty UserRoot is None");
}

#[test]
fn columns_in_any_order() {
    let p = ok(b"Password,EmailAddress,UserName\nsecret,a@x.com,alogin\n");
    assert_eq!(p.rows[0].email_address, "a@x.com");
    assert_eq!(p.rows[0].user_name, "alogin");
    assert_eq!(p.rows[0].password.expose_secret(), "secret");
}

#[test]
fn empty_file_and_header_only_are_errors() {
    assert_eq!(err(b""), CsvError::Empty);
    assert_eq!(err(b"  \r\n\r\n"), CsvError::Empty);
    assert_eq!(err(&[0xEF, 0xBB, 0xBF]), CsvError::Empty);
    assert_eq!(err(b"EmailAddress,UserName,Password\r\n"), CsvError::Empty);
    assert_eq!(
        err(b"EmailAddress,UserName,Password\r\n,,\r\n\r\n"),
        CsvError::Empty
    );
}

#[test]
fn binary_is_not_text() {
    assert!(matches!(
        err(b"EmailAddress,User\0Name"),
        CsvError::NotText { .. }
    ));
    assert!(matches!(
        err(b"\x89PNG\r\n\x1a\n\x00\x00"),
        CsvError::NotText { .. }
    ));
    assert!(matches!(
        err(b"EmailAddress\x01,UserName,Password\na@x.com,a,p\n"),
        CsvError::NotText { .. }
    ));
    // UTF-16 without a BOM is full of NULs.
    let no_bom: Vec<u8> = "EmailAddress,UserName,Password\r\n"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    assert!(matches!(err(&no_bom), CsvError::NotText { .. }));
}

#[test]
fn missing_column_is_named() {
    let e = err(b"EmailAddress,Password\na@x.com,p\n");
    assert_eq!(
        e,
        CsvError::MissingColumns {
            columns: vec!["UserName".into()]
        }
    );
    assert!(e.to_string().contains("UserName"), "{e}");
    let e = err(b"Email Address,UserName,Password\na@x.com,a,p\n");
    assert!(e.to_string().contains("EmailAddress"), "{e}");
    // Excel in a ';' locale saved with commas inside one column is still caught.
    let e = err(b"EmailAddress|UserName|Password\na|b|c\n");
    assert!(matches!(e, CsvError::MissingColumns { ref columns } if columns.len() == 3));
}

#[test]
fn unknown_columns_are_listed_unless_allowed() {
    let csv = b"EmailAddress,UserName,Password,Department,Notes\na@x.com,a,p,Sales,n\n";
    let e = err(csv);
    assert_eq!(
        e,
        CsvError::UnknownColumns {
            columns: vec!["Department".into(), "Notes".into()]
        }
    );
    assert!(e.to_string().contains("Department, Notes"), "{e}");
    let p = parse(csv, true).expect("allowed");
    assert_eq!(p.rows.len(), 1);
    assert_eq!(p.ignored_columns, vec!["Department", "Notes"]);
}

#[test]
fn duplicate_column_is_an_error() {
    let e = err(b"EmailAddress,UserName,Username,Password\na@x.com,a,b,p\n");
    assert_eq!(
        e,
        CsvError::DuplicateColumn {
            column: "UserName".into()
        }
    );
}

#[test]
fn wrong_column_count_names_line_expected_and_actual() {
    let e = err(b"EmailAddress,UserName,Password\na@x.com,a,p\nb@x.com,b\n");
    assert_eq!(
        e,
        CsvError::WrongColumnCount {
            line: 3,
            expected: 3,
            actual: 2
        }
    );
    let msg = e.to_string();
    assert!(
        msg.contains("line 3") && msg.contains('2') && msg.contains('3'),
        "{msg}"
    );
}

#[test]
fn more_than_50000_rows_is_an_error() {
    let mut csv = String::from("EmailAddress,UserName,Password\n");
    for i in 0..50_001 {
        csv.push_str(&format!("u{i}@x.com,u{i},p\n"));
    }
    assert_eq!(
        err(csv.as_bytes()),
        CsvError::TooManyRows {
            rows: 50_001,
            max: 50_000
        }
    );
    // Exactly the limit is fine.
    let cut = csv.rfind("u50000@").expect("last row");
    let p = ok(&csv.as_bytes()[..cut]);
    assert_eq!(p.rows.len(), 50_000);
}

#[test]
fn larger_than_10_mb_is_an_error() {
    let big = vec![b'a'; MAX_FILE_BYTES + 1];
    assert!(matches!(err(&big), CsvError::TooLarge { .. }));
}

#[test]
fn duplicate_email_warns_on_the_later_row() {
    let p = ok(b"EmailAddress,UserName,Password\na@x.com,a,p\nb@x.com,b,p\nA@X.com,a2,p\n");
    assert_eq!(p.rows.len(), 2);
    assert_eq!(p.warnings.len(), 1);
    let w = &p.warnings[0];
    assert_eq!(w.row_index, 3);
    assert_eq!(w.email_address, "A@X.com");
    assert!(
        w.message.contains("more than once") && w.message.contains("row 1"),
        "{}",
        w.message
    );
}

#[test]
fn empty_required_values_and_invalid_addresses_warn() {
    let p = ok(b"EmailAddress,UserName,Password\n\
        ,a,p\n\
        b@x.com,,p\n\
        c@x.com,c,\n\
        not-an-address,d,p\n\
        e@x.com,e,p\n\
        f@@x.com,f,p\n\
        g@x,g,p\n");
    assert_eq!(p.rows.len(), 1);
    assert_eq!(p.rows[0].email_address, "e@x.com");
    assert_eq!(p.rows[0].row_index, 5);
    let by_row: Vec<(u32, &str)> = p
        .warnings
        .iter()
        .map(|w| (w.row_index, w.message.as_str()))
        .collect();
    assert_eq!(by_row.len(), 6);
    assert!(by_row[0].1.contains("EmailAddress") && by_row[0].1.contains("empty"));
    assert!(by_row[1].1.contains("UserName"));
    assert!(by_row[2].1.contains("Password"));
    assert_eq!(by_row[3].0, 4);
    assert!(by_row[3].1.contains("not a valid email address"));
    assert_eq!(by_row[4].0, 6);
    assert_eq!(by_row[5].0, 7);
}

#[test]
fn email_validation() {
    for good in [
        "a@b.co",
        "first.last+tag@sub.example.com",
        "o'neil@x.de",
        "jürgen@müller.de",
    ] {
        assert!(validate_email(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "a",
        "@b.co",
        "a@",
        "a@b",
        "a b@c.de",
        "a..b@c.de",
        ".a@c.de",
        "a@-b.de",
        "a@b..de",
        "a\"b@c.de",
    ] {
        assert!(validate_email(bad).is_err(), "{bad}");
    }
}

/// Collects every message a parse can produce for `bytes`.
fn all_messages(bytes: &[u8]) -> Vec<String> {
    match parse(bytes, false) {
        Ok(p) => p
            .warnings
            .iter()
            .map(|w| format!("{} {} {}", w.row_index, w.email_address, w.message))
            .chain(std::iter::once(format!("{p:?}")))
            .collect(),
        Err(e) => vec![e.to_string(), format!("{e:?}")],
    }
}

#[test]
fn passwords_never_appear_in_errors_or_warnings() {
    let pw = "Zq7!pw-SECRET";
    let cases: Vec<String> = vec![
        // Row-level: empty UserName, invalid address, duplicate.
        format!("EmailAddress,UserName,Password\na@x.com,,{pw}\nbad,b,{pw}\na@x.com,c,{pw}\n"),
        // File-level: wrong column count on a row carrying the password.
        format!("EmailAddress,UserName,Password\na@x.com,a,{pw},extra\n"),
        // Unknown column whose row holds the password.
        format!("EmailAddress,UserName,Password,Other\na@x.com,a,{pw},{pw}\n"),
        // A quote error inside the password field.
        format!("EmailAddress,UserName,Password\na@x.com,a,\"{pw}\n"),
    ];
    for csv in &cases {
        for msg in all_messages(csv.as_bytes()) {
            assert!(!msg.contains(pw), "password leaked in: {msg}");
        }
    }
}

#[test]
fn password_that_is_also_a_substring_elsewhere_is_not_echoed_or_redacted() {
    // The password "contoso" is also part of the address. The warning must carry the
    // address intact (nothing was redacted by string replacement) and mention "contoso" only
    // as part of it.
    let p = ok(b"EmailAddress,UserName,Password\nann@contoso.com,ann,contoso\nann@contoso.com,ann2,contoso\n");
    assert_eq!(p.warnings.len(), 1);
    let w = &p.warnings[0];
    assert_eq!(w.email_address, "ann@contoso.com");
    assert_eq!(
        w.message,
        "row 2: the user ann@contoso.com is listed more than once (first in row 1)"
    );
    assert_eq!(w.message.matches("contoso").count(), 1);
    // Debug output of the parsed rows never shows a password.
    let dbg = format!("{:?}", p.rows);
    assert!(!dbg.contains("\"contoso\""), "{dbg}");
    assert!(dbg.contains("***"));
}

#[test]
fn user_name_with_admin_encodings_is_kept_verbatim() {
    let p = ok(b"EmailAddress,UserName,Password\n\
        terrya@contoso.edu,contoso-students/mailadmin/terry.adams,P@ssw0rd\n\
        annb@contoso.edu,ann.beebe*mailadmin,P@ssw0rd\n\
        kim@contoso.edu,#kim@contoso-students.edu#mailadmin#,P@ssw0rd\n");
    assert_eq!(p.rows.len(), 3);
    assert_eq!(p.rows[1].user_name, "ann.beebe*mailadmin");
    assert_eq!(p.rows[2].user_name, "#kim@contoso-students.edu#mailadmin#");
}

#[test]
fn validation_warning_serializes_for_the_batch_row() {
    let p = ok(b"EmailAddress,UserName,Password\nbad,a,p\n");
    let json = serde_json::to_value(&p.warnings).expect("json");
    assert_eq!(json[0]["RowIndex"], 1);
    assert_eq!(json[0]["EmailAddress"], "bad");
}

#[test]
fn line_numbers_are_an_editors_for_crlf_lf_and_cr_files() {
    for nl in ["\r\n", "\n", "\r"] {
        let csv = [
            "EmailAddress,UserName,Password",
            "a@x.com,a,p",
            "",
            "b@x.com,b",
        ]
        .join(nl);
        assert_eq!(
            err(csv.as_bytes()),
            CsvError::WrongColumnCount {
                line: 4,
                expected: 3,
                actual: 2
            },
            "line ends {nl:?}"
        );
    }
    let e = err(b"EmailAddress,UserName,Password\r\na@x.com,a,p\r\nb@x.com,\"b\r\n");
    assert!(
        matches!(e, CsvError::Malformed { line: 3, .. })
            || matches!(e, CsvError::WrongColumnCount { line: 3, .. }),
        "{e:?}"
    );
}

#[test]
fn excels_sep_line_names_the_delimiter() {
    let p = ok(b"sep=;\r\nEmailAddress;UserName;Password\r\nann@x.com;ann;p,w\r\n");
    assert_eq!(p.delimiter, ';');
    assert_eq!(p.rows.len(), 1);
    assert_eq!(p.rows[0].row_index, 1);
    assert_eq!(p.rows[0].password.expose_secret(), "p,w");
    let p = ok(b"SEP=|\nEmailAddress|UserName|Password\nann@x.com|ann|pw\n");
    assert_eq!((p.delimiter, p.rows.len()), ('|', 1));
    // Lines keep counting the sep line.
    assert_eq!(
        err(b"sep=,\r\nEmailAddress,UserName,Password\r\nb@x.com,b\r\n"),
        CsvError::WrongColumnCount {
            line: 3,
            expected: 3,
            actual: 2
        }
    );
    assert_eq!(err(b"sep=;\r\n"), CsvError::Empty);
}
