//! Intake of the Exchange IMAP migration CSV (docs/compatibility.md §9).
//!
//! Columns: `EmailAddress`, `UserName` (also spelled `Username`), `Password`, optional
//! `UserRoot`. Header names are matched case-insensitively after trimming. Files come from
//! Excel as often as from scripts, so the reader accepts UTF-8 with or without BOM, UTF-16 with
//! BOM, and falls back to Windows-1252 (Excel's "CSV (Comma delimited)") when the bytes are not
//! UTF-8; CRLF or LF; quoted headers and fields; and `;` (or tab) as the delimiter when the
//! header line uses it (Excel in locales whose decimal separator is a comma).
//!
//! Problems with the file as a whole are a [`CsvError`] and nothing may be created from it.
//! Problems with one row become a [`ValidationWarning`] and the row is left out. No error or
//! warning ever contains a password: messages are built only from column names, row numbers
//! and email addresses, never from row contents in general.

use std::collections::HashMap;

use serde::Serialize;

use crate::secret::SecretString;
pub use crate::types::ValidationWarning;

/// Largest accepted file (Exchange: 10 MB).
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Most data rows accepted (Exchange: 50,000, header not counted).
pub const MAX_ROWS: usize = 50_000;

/// The columns Exchange defines for IMAP migrations.
const EMAIL: &str = "EmailAddress";
const USER_NAME: &str = "UserName";
const PASSWORD: &str = "Password";
const USER_ROOT: &str = "UserRoot";

/// A file-level problem: the whole CSV is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// Nothing but white space, or a header without data rows (blank rows do not count).
    #[error("cannot import the csv file: it is empty or has no data rows")]
    Empty,
    /// Not decodable as text, or it contains NUL or other control characters.
    #[error("cannot import the csv file: it is not a text file ({reason}); save it as CSV UTF-8")]
    NotText {
        /// Which check failed (invalid UTF-16, NUL bytes, the control character found).
        reason: String,
    },
    /// Larger than [`MAX_FILE_BYTES`].
    #[error(
        "cannot import the csv file: it is {size} bytes, larger than the limit of {max} bytes; split it into several batches"
    )]
    TooLarge {
        /// The file's size in bytes.
        size: usize,
        /// The limit in bytes ([`MAX_FILE_BYTES`]).
        max: usize,
    },
    /// More data rows than [`MAX_ROWS`].
    #[error(
        "cannot import the csv file: it has {rows} data rows, more than the limit of {max}; split it into several batches"
    )]
    TooManyRows {
        /// Non-blank data rows in the file (all of them, not just up to the limit).
        rows: usize,
        /// The limit ([`MAX_ROWS`]).
        max: usize,
    },
    /// The header lacks `EmailAddress`, `UserName` or `Password`.
    #[error("cannot import the csv file: the header row lacks the required column(s) {}", columns.join(", "))]
    MissingColumns {
        /// The missing columns, spelled as Exchange spells them.
        columns: Vec<String>,
    },
    /// The header has columns Exchange does not define, and unknown columns are not allowed.
    #[error("cannot import the csv file: unrecognized column(s) {}; remove them or allow unknown columns", columns.join(", "))]
    UnknownColumns {
        /// The header names as written; `(unnamed column N)` for an empty one (1-based).
        columns: Vec<String>,
    },
    /// One of the known columns appears twice (names compare case-insensitively).
    #[error("cannot import the csv file: column {column} appears more than once")]
    DuplicateColumn {
        /// The column, spelled as Exchange spells it.
        column: String,
    },
    /// A data row has more or fewer fields than the header.
    #[error(
        "cannot import the csv file: line {line} has {actual} columns but the header has {expected}"
    )]
    WrongColumnCount {
        /// Physical line number of the row (the first line of the file is 1).
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        actual: usize,
    },
    /// The CSV reader could not parse a line (bad quoting, a read error).
    #[error("cannot import the csv file: line {line} cannot be read: {reason}")]
    Malformed {
        /// Physical line number where the reader stopped (1-based; 0 when unknown).
        line: u64,
        /// A fixed description of the problem, never the line's contents.
        reason: String,
    },
}

/// One accepted user row. `Debug` prints the password as `***`.
#[derive(Clone)]
pub struct CsvUser {
    /// 1-based data-row number, see [`parse`].
    pub row_index: u32,
    /// The `EmailAddress` value: the target mailbox, trimmed and checked as an SMTP address.
    pub email_address: String,
    /// The `UserName` value: the login on the source server (may encode an admin login such
    /// as `user*admin`), trimmed.
    pub user_name: String,
    /// The `Password` value for `user_name`, trimmed.
    pub password: SecretString,
    /// Only for Courier/Oracle-style shared-folder servers; `None` when absent or empty.
    pub user_root: Option<String>,
}

impl std::fmt::Debug for CsvUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvUser")
            .field("row_index", &self.row_index)
            .field("email_address", &self.email_address)
            .field("user_name", &self.user_name)
            .field("password", &"***")
            .field("user_root", &self.user_root)
            .finish()
    }
}

/// The result of reading a CSV that passed the file-level checks.
#[derive(Debug, Clone, Default)]
pub struct ParsedCsv {
    /// Accepted rows in file order.
    pub rows: Vec<CsvUser>,
    /// Rows left out, in file order.
    pub warnings: Vec<ValidationWarning>,
    /// Unknown columns that were ignored because they were allowed.
    pub ignored_columns: Vec<String>,
    /// The text encoding the file was read as (`UTF-8`, `UTF-16LE`, `windows-1252`, ...).
    pub encoding: &'static str,
    /// The field delimiter found on the header line.
    pub delimiter: char,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Column {
    Email,
    UserName,
    Password,
    UserRoot,
}

impl Column {
    fn from_header(normalized: &str) -> Option<Column> {
        match normalized {
            "emailaddress" => Some(Column::Email),
            "username" => Some(Column::UserName),
            "password" => Some(Column::Password),
            "userroot" => Some(Column::UserRoot),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Column::Email => EMAIL,
            Column::UserName => USER_NAME,
            Column::Password => PASSWORD,
            Column::UserRoot => USER_ROOT,
        }
    }
}

/// Reads an Exchange IMAP migration CSV.
///
/// **Row numbering:** `row_index` (in [`CsvUser`] and [`ValidationWarning`]) is the 1-based
/// number of the data row: the header is row 0, the first user is row 1, as Exchange's
/// `ValidationWarnings.RowIndex` counts. Rows that are entirely empty (blank lines, or only
/// delimiters as Excel writes for formatted empty rows) are skipped and not counted. File-level
/// errors that point into the file ([`CsvError::WrongColumnCount`]) give the physical line
/// number instead (the header is line 1), since that is what an editor shows.
///
/// Field values are trimmed of surrounding white space, passwords included (a space typed after
/// a comma is far more common than a password that ends in a space).
///
/// `allow_unknown_columns` mirrors `-AllowUnknownColumnsInCsv`: unknown columns are then
/// ignored instead of refusing the file.
pub fn parse(bytes: &[u8], allow_unknown_columns: bool) -> Result<ParsedCsv, CsvError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(CsvError::TooLarge {
            size: bytes.len(),
            max: MAX_FILE_BYTES,
        });
    }
    let (text, encoding) = decode(bytes)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.trim().is_empty() {
        return Err(CsvError::Empty);
    }
    let (delimiter, body_start) = match sep_line(text) {
        Some(found) => found,
        None => (sniff_delimiter(text), 0),
    };
    let body = &text[body_start..];
    if body.trim().is_empty() {
        return Err(CsvError::Empty);
    }
    // Line numbers as an editor shows them, whatever the line ends (see `physical_line`).
    let line_at = |pos: Option<&csv::Position>| {
        pos.map_or(0, |p| {
            physical_line(
                text,
                body_start + usize::try_from(p.byte()).unwrap_or(usize::MAX),
            )
        })
    };
    let unreadable = |e: &csv::Error| malformed(e, line_at(e.position()));

    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body.as_bytes());

    let mut records = reader.records();
    // The header is the first record that is not blank.
    let header = loop {
        match records.next() {
            None => return Err(CsvError::Empty),
            Some(Err(e)) => return Err(unreadable(&e)),
            Some(Ok(rec)) if is_blank(&rec) => continue,
            Some(Ok(rec)) => break rec,
        }
    };

    let columns = map_header(&header, allow_unknown_columns)?;
    let ignored_columns = columns.ignored.clone();

    // Read every data row before validating any, so file-level errors (column counts, row
    // limit) win over row-level warnings and nothing is half-accepted.
    let mut data: Vec<csv::StringRecord> = Vec::new();
    let mut total = 0usize;
    for rec in records {
        let rec = rec.map_err(|e| unreadable(&e))?;
        if is_blank(&rec) {
            continue;
        }
        if rec.len() != header.len() {
            return Err(CsvError::WrongColumnCount {
                line: line_at(rec.position()),
                expected: header.len(),
                actual: rec.len(),
            });
        }
        total += 1;
        // Past the limit keep counting (so the message says how big the file is) but stop
        // keeping rows.
        if total <= MAX_ROWS {
            data.push(rec);
        }
    }
    if total > MAX_ROWS {
        return Err(CsvError::TooManyRows {
            rows: total,
            max: MAX_ROWS,
        });
    }
    if data.is_empty() {
        return Err(CsvError::Empty);
    }

    let mut out = ParsedCsv {
        ignored_columns,
        encoding,
        delimiter: char::from(delimiter),
        ..Default::default()
    };
    let mut seen: HashMap<String, u32> = HashMap::new();
    for (i, rec) in data.iter().enumerate() {
        // Invariant: data.len() <= MAX_ROWS, far below u32::MAX.
        let row_index = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let field = |c: Column| columns.index(c).and_then(|ix| rec.get(ix)).unwrap_or("");
        let email = field(Column::Email).to_owned();
        let warn = |message: String| ValidationWarning {
            row_index,
            email_address: email.clone(),
            message,
        };

        let blank: Vec<&str> = [Column::Email, Column::UserName, Column::Password]
            .into_iter()
            .filter(|c| field(*c).is_empty())
            .map(Column::name)
            .collect();
        if !blank.is_empty() {
            out.warnings.push(warn(format!(
                "row {row_index}: the value for {} is empty",
                blank.join(", ")
            )));
            continue;
        }
        if let Err(reason) = validate_email(&email) {
            out.warnings.push(warn(format!(
                "row {row_index}: the value for {EMAIL} is not a valid email address ({reason})"
            )));
            continue;
        }
        let key = email.to_lowercase();
        if let Some(first) = seen.get(&key) {
            out.warnings.push(warn(format!(
                "row {row_index}: the user {email} is listed more than once (first in row {first})"
            )));
            continue;
        }
        seen.insert(key, row_index);
        let user_root = Some(field(Column::UserRoot))
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        out.rows.push(CsvUser {
            row_index,
            email_address: email.clone(),
            user_name: field(Column::UserName).to_owned(),
            password: SecretString::from(field(Column::Password)),
            user_root,
        });
    }
    Ok(out)
}

/// A user already given a Maildir directory below the same root as the rows being taken in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirOwner {
    /// The user's address.
    pub email: String,
    /// The user's row in its batch's CSV.
    pub row_index: u32,
    /// The user's batch.
    pub batch: String,
}

/// Leaves out, as validation warnings naming both rows, the rows whose mailbox would land in a
/// directory that another row of the same file or a user of `taken` already has
/// ([`crate::paths::maildir_dir_name`]: `a/b@x` and `a_b@x` share `a_b@x`). One user's mail in
/// another's mailbox is worse than a row left out. Directory names compare case-insensitively,
/// as addresses do; an owner with the row's own address is that user, not a collision.
pub fn drop_shared_maildirs(
    rows: Vec<CsvUser>,
    taken: &[MaildirOwner],
    warnings: &mut Vec<ValidationWarning>,
) -> Vec<CsvUser> {
    let dir_key = |email: &str| crate::paths::maildir_dir_name(email).to_lowercase();
    let mut owners: HashMap<String, (String, u32, Option<&str>)> = HashMap::new();
    for o in taken {
        owners.entry(dir_key(&o.email)).or_insert((
            o.email.clone(),
            o.row_index,
            Some(o.batch.as_str()),
        ));
    }
    let mut kept = Vec::with_capacity(rows.len());
    for r in rows {
        let key = dir_key(&r.email_address);
        match owners.get(&key) {
            Some((email, row, batch)) if !email.eq_ignore_ascii_case(&r.email_address) => {
                let whose = match batch {
                    Some(b) => format!("{email} (row {row} of batch {b})"),
                    None => format!("{email} (row {row})"),
                };
                warnings.push(ValidationWarning {
                    row_index: r.row_index,
                    email_address: r.email_address.clone(),
                    message: format!(
                        "row {}: the user {} would share the Maildir directory {} with {whose}; one of the two addresses must change, or the batches need different Maildir roots",
                        r.row_index,
                        r.email_address,
                        crate::paths::maildir_dir_name(&r.email_address)
                    ),
                });
            }
            _ => {
                owners.insert(key, (r.email_address.clone(), r.row_index, None));
                kept.push(r);
            }
        }
    }
    warnings.sort_by_key(|w| w.row_index);
    kept
}

struct ColumnMap {
    index: [Option<usize>; 4],
    ignored: Vec<String>,
}

impl ColumnMap {
    fn index(&self, c: Column) -> Option<usize> {
        self.index[c as usize]
    }
}

fn map_header(header: &csv::StringRecord, allow_unknown: bool) -> Result<ColumnMap, CsvError> {
    let mut map = ColumnMap {
        index: [None; 4],
        ignored: Vec::new(),
    };
    let mut unknown = Vec::new();
    for (ix, raw) in header.iter().enumerate() {
        let name = raw.trim_start_matches('\u{feff}').trim();
        let normalized = name.to_ascii_lowercase();
        match Column::from_header(&normalized) {
            Some(c) => {
                if map.index[c as usize].is_some() {
                    return Err(CsvError::DuplicateColumn {
                        column: c.name().to_owned(),
                    });
                }
                map.index[c as usize] = Some(ix);
            }
            None if name.is_empty() => unknown.push(format!("(unnamed column {})", ix + 1)),
            None => unknown.push(name.to_owned()),
        }
    }
    let missing: Vec<String> = [Column::Email, Column::UserName, Column::Password]
        .into_iter()
        .filter(|c| map.index[*c as usize].is_none())
        .map(|c| c.name().to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(CsvError::MissingColumns { columns: missing });
    }
    if !unknown.is_empty() {
        if !allow_unknown {
            return Err(CsvError::UnknownColumns { columns: unknown });
        }
        map.ignored = unknown;
    }
    Ok(map)
}

/// Decodes the file: BOM first (UTF-8, UTF-16LE/BE), else UTF-8 if the bytes are valid UTF-8,
/// else Windows-1252. Decoding the whole buffer (at most 10 MB) up front, rather than through a
/// streaming decoder, lets us tell valid UTF-8 from 1252 before choosing.
fn decode(bytes: &[u8]) -> Result<(String, &'static str), CsvError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(CsvError::Empty);
    }
    let (text, encoding) = if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors {
            return Err(CsvError::NotText {
                reason: format!("it is not valid {}", enc.name()),
            });
        }
        (text.into_owned(), enc.name())
    } else {
        if bytes.contains(&0) {
            return Err(CsvError::NotText {
                reason: "it contains NUL bytes (binary data, or UTF-16 without a byte order mark)"
                    .into(),
            });
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_owned(), encoding_rs::UTF_8.name()),
            Err(_) => {
                let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
                (text.into_owned(), encoding_rs::WINDOWS_1252.name())
            }
        }
    };
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n' | '\u{c}'))
    {
        return Err(CsvError::NotText {
            reason: format!("it contains the control character U+{:04X}", u32::from(c)),
        });
    }
    Ok((text, encoding))
}

/// Picks `;` or tab over `,` when the header line has more of them outside quotes.
fn sniff_delimiter(text: &str) -> u8 {
    let mut counts = [0usize; 3]; // , ; \t
    let mut in_quotes = false;
    for c in text.trim_start_matches(['\r', '\n']).chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\n' | '\r' if !in_quotes => break,
            ',' if !in_quotes => counts[0] += 1,
            ';' if !in_quotes => counts[1] += 1,
            '\t' if !in_quotes => counts[2] += 1,
            _ => {}
        }
    }
    if counts[1] > counts[0] && counts[1] >= counts[2] {
        b';'
    } else if counts[2] > counts[0] && counts[2] > counts[1] {
        b'\t'
    } else {
        b','
    }
}

fn is_blank(rec: &csv::StringRecord) -> bool {
    rec.iter().all(|f| f.trim().is_empty())
}

/// Excel's first line `sep=;` (also `sep=,`, `sep=|`, or a tab) names the delimiter; the
/// line is not part of the data. Returns the delimiter and the length of the line with its
/// line end.
fn sep_line(text: &str) -> Option<(u8, usize)> {
    let end = text.find(['\r', '\n']).unwrap_or(text.len());
    let line = &text[..end];
    let rest = line.get(..4).filter(|p| p.eq_ignore_ascii_case("sep="))?;
    let value = &line[rest.len()..];
    let delimiter = match value.as_bytes() {
        [d] if d.is_ascii() && !d.is_ascii_alphanumeric() && *d != b'"' => *d,
        _ => return None,
    };
    let after = &text[end..];
    let newline = if after.starts_with("\r\n") {
        2
    } else {
        usize::from(!after.is_empty())
    };
    Some((delimiter, end + newline))
}

/// The 1-based line of the record the csv reader places at `offset`: a CRLF, a lone LF and a
/// lone CR each end one line. The reader's own line count is one too low for CRLF files
/// (Excel's default), and its offset points just past the previous record's terminator (the LF
/// of a CRLF, blank lines), so line ends right at `offset` are skipped first.
fn physical_line(text: &str, offset: usize) -> u64 {
    let all = text.as_bytes();
    let mut start = offset.min(all.len());
    while matches!(all.get(start), Some(b'\r' | b'\n')) {
        start += 1;
    }
    let bytes = &all[..start];
    let mut line = 1u64;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            line += 1;
        }
    }
    line
}

/// A csv error without any field contents (csv's messages can quote data).
fn malformed(e: &csv::Error, line: u64) -> CsvError {
    let reason = match e.kind() {
        csv::ErrorKind::Io(_) => "read error",
        csv::ErrorKind::Utf8 { .. } => "invalid text encoding",
        csv::ErrorKind::UnequalLengths { .. } => "wrong number of columns",
        _ => "malformed line",
    };
    CsvError::Malformed {
        line,
        reason: reason.into(),
    }
}

/// A practical address check (RFC 5321 §4.1.2 / §4.5.3.1 limits, dot-atom local part): the
/// address must work as an Exchange SMTP address, so quoted local parts and IP literals are
/// refused.
fn validate_email(email: &str) -> Result<(), &'static str> {
    if email.len() > 254 {
        return Err("longer than 254 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains white space");
    }
    let (local, domain) = email.rsplit_once('@').ok_or("no @")?;
    if local.is_empty() {
        return Err("nothing before the @");
    }
    if local.len() > 64 {
        return Err("the part before the @ is longer than 64 characters");
    }
    if local.contains('@') {
        return Err("more than one @");
    }
    const ATEXT: &str = "!#$%&'*+-/=?^_`{|}~.";
    if !local
        .chars()
        .all(|c| c.is_alphanumeric() || ATEXT.contains(c))
    {
        return Err("invalid character before the @");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("misplaced dot before the @");
    }
    if domain.is_empty() {
        return Err("nothing after the @");
    }
    if !domain.contains('.') {
        return Err("the domain has no dot");
    }
    for label in domain.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("empty or overlong domain label");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a domain label starts or ends with a hyphen");
        }
        if !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return Err("invalid character in the domain");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
