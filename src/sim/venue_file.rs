//! The venue file on disk: locking, loading and saving `DIR/venue.json`.
//!
//! Several processes change the file: the running sim (a trading step, a
//! few times a second) and `gantry sim flatten` (a kill script). Every
//! read-modify-write holds an exclusive `flock` on `DIR/venue.lock` and
//! writes through `durable` (temp, fsync, rename, fsync dir), so no change
//! is lost to a concurrent one and a reader without the lock (`gantry sim
//! venue`) always sees a whole file: the old one or the new. The lock file
//! is never removed: removing it would let two processes lock two files.
//!
//! The running sim never waits for the lock (`Busy`: it skips a step),
//! because a slow flatten holds it for seconds and the sim must keep
//! answering; the command line waits.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::trader::{self, Exchanged, Request};
use super::venue::{self, Book};
use crate::durable;
use crate::exit::Code;

/// A venue file that cannot be used, named.
#[derive(Debug, thiserror::Error)]
pub enum VenueError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: {why}", path.display())]
    Corrupt { path: PathBuf, why: String },
    #[error("cannot lock {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

impl VenueError {
    /// The documented exit status (docs/sim.md, "The venue").
    pub fn code(&self) -> Code {
        match self {
            Self::Corrupt { .. } => Code::DataErr,
            Self::Read { .. } | Self::Lock { .. } => Code::Unavailable,
            Self::Write { .. } => Code::Failed,
        }
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(venue::FILE_NAME)
}

/// The venue as the file says, without the lock (writes are atomic
/// renames, so the file is always whole); `None` when there is no file.
pub fn read(dir: &Path) -> Result<Option<Book>, VenueError> {
    let path = path(dir);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(VenueError::Read { path, source }),
    };
    // One byte over the limit is enough to refuse the file.
    let mut bytes = Vec::new();
    file.by_ref()
        .take(venue::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| VenueError::Read {
            path: path.clone(),
            source,
        })?;
    Book::parse(&bytes)
        .map(Some)
        .map_err(|why| VenueError::Corrupt { path, why })
}

/// The venue, locked for a read-modify-write; unlocked on drop.
pub struct Locked {
    dir: PathBuf,
    /// Held open for the `flock`; closing it releases the lock.
    _lock: File,
}

/// Locks the venue in `dir`. `wait: false` answers `None` at once when
/// another process holds it.
pub fn lock(dir: &Path, wait: bool) -> Result<Option<Locked>, VenueError> {
    let path = dir.join(venue::LOCK_NAME);
    let failed = |source| VenueError::Lock {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .map_err(failed)?;
    let operation = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: flock(2) on a descriptor we own and keep open.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
            return Ok(Some(Locked {
                dir: dir.to_path_buf(),
                _lock: file,
            }));
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(failed(error)),
        }
    }
}

impl Locked {
    pub fn path(&self) -> PathBuf {
        path(&self.dir)
    }

    pub fn load(&self) -> Result<Option<Book>, VenueError> {
        read(&self.dir)
    }

    pub fn save(&self, book: &Book) -> Result<(), VenueError> {
        let path = self.path();
        durable::write_atomic(&path, &book.render())
            .map_err(|source| VenueError::Write { path, source })
    }
}

/// Performs one request of the running sim (see `trader`).
pub fn exchange(request: &Request) -> Exchanged {
    if !request.writes() {
        return match read(&request.dir) {
            Ok(book) => Exchanged::Done {
                book,
                fills: 0,
                recorded: false,
            },
            Err(e) => Exchanged::Unreadable(e.to_string()),
        };
    }
    let locked = match lock(&request.dir, false) {
        Ok(Some(locked)) => locked,
        Ok(None) => return Exchanged::Busy,
        // A read-only state dir: what the venue holds can still be shown.
        Err(e) => {
            return match read(&request.dir) {
                Ok(book) => Exchanged::Unwritable {
                    book,
                    why: e.to_string(),
                },
                Err(unread) => Exchanged::Unreadable(unread.to_string()),
            };
        }
    };
    let found = match locked.load() {
        Ok(found) => found,
        Err(e) => return Exchanged::Unreadable(e.to_string()),
    };
    let mut book = found.clone().unwrap_or_default();
    let mut changed = found.is_none();
    if let Some(account) = request.record {
        changed |= book.set_account(account);
    }
    let mut fills = 0;
    if let Some(trade) = request.trade {
        let before = book.clone();
        fills = trader::step(&mut book, trade);
        changed |= book != before;
    }
    if changed && let Err(e) = locked.save(&book) {
        return Exchanged::Unwritable {
            book: found,
            why: e.to_string(),
        };
    }
    Exchanged::Done {
        book: Some(book),
        fills,
        recorded: request.record.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::trader::Trade;
    use crate::sim::venue::{Account, Flatten};

    fn request(dir: &Path, trade: Option<u64>) -> Request {
        Request {
            dir: dir.to_path_buf(),
            record: None,
            trade: trade.map(|step| Trade {
                step,
                tau_ms: step * 500,
                quiet: false,
            }),
        }
    }

    #[test]
    fn a_missing_file_is_flat_and_only_created_by_a_write() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        assert_eq!(
            exchange(&request(dir.path(), None)),
            Exchanged::Done {
                book: None,
                fills: 0,
                recorded: false,
            }
        );
        assert!(!path(dir.path()).exists());
        let slow = Account {
            flatten: Flatten::Slow,
            flatten_ms: 300,
        };
        let record = Request {
            record: Some(slow),
            ..request(dir.path(), None)
        };
        exchange(&record);
        assert_eq!(read(dir.path()).unwrap().unwrap().account(), slow);
    }

    #[test]
    fn trading_steps_land_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut fills = 0;
        for step in 0..5 {
            match exchange(&request(dir.path(), Some(step))) {
                Exchanged::Done { fills: n, .. } => fills += n,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(fills, 3);
        let book = read(dir.path()).unwrap().unwrap();
        assert_eq!(book.positions().len(), 2);
        assert_eq!(book.orders().len(), 2);
    }

    #[test]
    fn a_held_lock_makes_the_sim_skip_and_a_corrupt_file_is_no_book() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path(), true).unwrap().unwrap();
        assert_eq!(exchange(&request(dir.path(), Some(0))), Exchanged::Busy);
        drop(held);
        std::fs::write(path(dir.path()), b"{\"format\": 1").unwrap();
        let Exchanged::Unreadable(why) = exchange(&request(dir.path(), Some(0))) else {
            panic!("a corrupt file is unreadable");
        };
        assert!(why.contains("venue.json: not a venue file"), "{why}");
        let err = read(dir.path()).unwrap_err();
        assert_eq!(err.code(), Code::DataErr);
        // Left as it was, for someone to look at.
        assert_eq!(std::fs::read(path(dir.path())).unwrap(), b"{\"format\": 1");
    }
}
