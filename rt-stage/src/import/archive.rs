//! Reading files out of an uncompressed tar (oci-archive, docker save) without
//! extracting it: one pass records where each file's data starts, then blobs are read
//! straight from those offsets with positional reads.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use super::Files;
use crate::error::{Error, IoContext, Result};

pub struct TarIndex {
    file: File,
    path: PathBuf,
    /// Cleaned member name → (data offset, size).
    entries: HashMap<String, (u64, u64)>,
}

impl TarIndex {
    pub fn build(path: &Path) -> Result<TarIndex> {
        let file = File::open(path).at("open", path)?;
        let len = file.metadata().at("stat", path)?.len();
        let mut entries = HashMap::new();
        let mut links = Vec::new();
        let mut archive = tar::Archive::new(&file);
        // Not a tar at all if the first header is bad; a damaged one after that.
        let bad = |e: io::Error, seen: usize| match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::Truncated {
                what: format!("archive {}", path.display()),
            },
            _ if seen == 0 => Error::UnknownArchive(path.to_path_buf()),
            _ => Error::invalid(format!("archive {}", path.display()), e.to_string()),
        };
        for (seen, entry) in archive
            .entries_with_seek()
            .map_err(|e| bad(e, 0))?
            .enumerate()
        {
            let entry = entry.map_err(|e| bad(e, seen))?;
            let Some(name) = clean(&String::from_utf8_lossy(&entry.path_bytes())) else {
                continue;
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let (offset, size) = (entry.raw_file_position(), entry.size());
                    // Seeking past the end of a cut-off file succeeds; catch it here.
                    if offset.saturating_add(size) > len {
                        return Err(Error::Truncated {
                            what: format!("archive {} (member {name})", path.display()),
                        });
                    }
                    entries.insert(name, (offset, size));
                }
                // docker save links identical layers to one copy: ../<id>/layer.tar
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Some(target) = entry.link_name_bytes() {
                        links.push((
                            name,
                            String::from_utf8_lossy(&target).into_owned(),
                            entry.header().entry_type(),
                        ));
                    }
                }
                _ => {}
            }
        }
        for (name, target, kind) in links {
            let resolved = if kind == tar::EntryType::Symlink {
                let dir = Path::new(&name).parent().unwrap_or(Path::new(""));
                clean(&dir.join(&target).to_string_lossy())
            } else {
                clean(&target)
            };
            if let Some(found) = resolved.and_then(|t| entries.get(&t).copied()) {
                entries.insert(name, found);
            }
        }
        Ok(TarIndex {
            file,
            path: path.to_path_buf(),
            entries,
        })
    }
}

impl Files for TarIndex {
    fn describe(&self) -> String {
        format!("archive {}", self.path.display())
    }

    fn open(&self, name: &str) -> Result<Option<(Box<dyn Read + '_>, u64)>> {
        Ok(self.entries.get(name).map(|&(offset, size)| {
            let r: Box<dyn Read + '_> = Box::new(Section {
                file: &self.file,
                pos: offset,
                end: offset + size,
            });
            (r, size)
        }))
    }
}

/// A byte range of the archive, read with pread so several can be open at once.
struct Section<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            // The archive shrank after it was indexed.
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A member name normalised lexically (`./a//b` → `a/b`); None if it climbs out of the
/// archive, as such names are never what a layout refers to.
fn clean(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(
            clean("./blobs//sha256/x").as_deref(),
            Some("blobs/sha256/x")
        );
        assert_eq!(
            clean("abc/../def/layer.tar").as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(clean("../x"), None);
        assert_eq!(clean("./"), None);
    }
}
