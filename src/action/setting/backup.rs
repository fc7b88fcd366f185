//! The backup `set_setting` leaves behind so `restore_setting` can put the exact
//! previous file back, even after the process died.
//!
//! Format: one header line, then the previous bytes verbatim.
//!
//! ```text
//! runbook-setting-backup 1 present 644 <sha256 of what the write produced>
//! <previous file bytes>
//! ```
//!
//! or `… absent - <sha256>` when there was no file. The hash of the written content
//! lets a retried or resumed `set_setting` recognise its own earlier write: the file
//! then no longer holds the original, and the backup must keep the original rather
//! than be overwritten with the step's own output.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

const MAGIC: &str = "runbook-setting-backup 1";

/// The most a backup can hold: a settings file (capped) and its header line.
pub const MAX_BYTES: u64 = super::MAX_FILE_BYTES + 256;

/// What the file was before the step, and what the step wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// `None` when the file did not exist.
    pub previous: Option<Previous>,
    /// [`content_hash`] of the content the step wrote.
    pub written: String,
}

/// The previous file: its permission bits and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub mode: u32,
    pub bytes: Vec<u8>,
}

/// The full SHA-256 of `bytes`, hex: the backup compares contents, it is no secret
/// fingerprint and never shown.
pub fn content_hash(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(bytes) {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

impl Backup {
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.previous {
            Some(previous) => {
                let mut out =
                    format!("{MAGIC} present {:o} {}\n", previous.mode, self.written).into_bytes();
                out.extend_from_slice(&previous.bytes);
                out
            }
            None => format!("{MAGIC} absent - {}\n", self.written).into_bytes(),
        }
    }

    /// Reads a backup; the error says what is wrong with it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Backup, &'static str> {
        let newline = bytes
            .iter()
            .position(|&byte| byte == b'\n')
            .ok_or("it has no header line")?;
        let header = std::str::from_utf8(&bytes[..newline])
            .map_err(|_| "its header is not text")?
            .strip_prefix(MAGIC)
            .ok_or("it does not start with the runbook backup header")?;
        let fields: Vec<&str> = header.split(' ').collect();
        let ["", state, mode, written] = fields.as_slice() else {
            return Err("its header does not have the expected fields");
        };
        if written.len() != 64 || !written.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err("its header does not hold a content hash");
        }
        let written = (*written).to_owned();
        let rest = &bytes[newline + 1..];
        match *state {
            "present" => {
                let mode = u32::from_str_radix(mode, 8)
                    .map_err(|_| "its header has no valid file mode")?;
                let bytes = rest.to_vec();
                let previous = Some(Previous { mode, bytes });
                Ok(Backup { previous, written })
            }
            "absent" if rest.is_empty() => Ok(Backup {
                previous: None,
                written,
            }),
            "absent" => Err("it says the file was absent yet holds content"),
            _ => Err("its header says neither present nor absent"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Backup, Previous, content_hash};

    #[test]
    fn round_trips_both_states_byte_for_byte() {
        let written = content_hash(b"new");
        let present = Backup {
            previous: Some(Previous {
                mode: 0o640,
                bytes: b"A=1\nno final newline\xff".to_vec(),
            }),
            written: written.clone(),
        };
        let absent = Backup {
            previous: None,
            written,
        };
        for backup in [present, absent] {
            assert_eq!(Backup::from_bytes(&backup.to_bytes()), Ok(backup));
        }
    }

    #[test]
    fn refuses_what_it_did_not_write() {
        let hash = content_hash(b"");
        for bad in [
            b"A=1\n".to_vec(),
            b"runbook-setting-backup 1 present 644\n".to_vec(),
            format!("runbook-setting-backup 1 present 9z {hash}\n").into_bytes(),
            format!("runbook-setting-backup 1 absent - {hash}\nextra").into_bytes(),
            format!("runbook-setting-backup 1 maybe - {hash}\n").into_bytes(),
            b"no newline".to_vec(),
        ] {
            assert!(Backup::from_bytes(&bad).is_err(), "{bad:?}");
        }
    }
}
