//! `load`: images from an OCI image layout directory, an oci-archive (a tar of one) or a
//! `docker save` tar, recognised by their content rather than by their names.
//! `import` (a root filesystem tarball → one-layer image) is in [`tarball`].

mod archive;
pub(crate) mod changes;
mod docker_save;
mod oci;
pub mod tarball;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::compression::Compression;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::ingest::{self, BlobSource, ManifestBlob, Names, Outcome};
use crate::manifest::Descriptor;
use crate::platform::Platform;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::{Staging, Store};

pub use archive::TarIndex;

/// The files of a layout, in a directory or inside an archive, by relative path.
pub trait Files {
    fn describe(&self) -> String;
    /// The file and its size, or None if there is no such file.
    fn open(&self, path: &str) -> Result<Option<(Box<dyn Read + '_>, u64)>>;
}

/// An OCI image layout directory.
pub struct DirFiles(PathBuf);

impl Files for DirFiles {
    fn describe(&self) -> String {
        format!("OCI layout {}", self.0.display())
    }

    fn open(&self, path: &str) -> Result<Option<(Box<dyn Read + '_>, u64)>> {
        let p = self.0.join(path);
        match File::open(&p) {
            Ok(f) => {
                let size = f.metadata().at("stat", &p)?.len();
                Ok(Some((Box::new(f), size)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at("open", &p),
        }
    }
}

/// Where a format keeps a blob: its path in the layout or archive.
type PathOf<'f> = Box<dyn Fn(&Digest) -> Option<String> + 'f>;

/// Serves blobs by digest from wherever a format keeps them.
struct FileBlobs<'f> {
    files: &'f dyn Files,
    path_of: PathOf<'f>,
}

impl BlobSource for FileBlobs<'_> {
    fn name(&self) -> String {
        self.files.describe()
    }

    fn open(&mut self, desc: &Descriptor) -> Result<Box<dyn Read + '_>> {
        let missing = || Error::MissingBlob {
            what: "blob".into(),
            digest: desc.digest.to_string(),
            source_name: self.files.describe(),
        };
        let path = (self.path_of)(&desc.digest).ok_or_else(missing)?;
        match self.files.open(&path)? {
            Some((r, _)) => Ok(r),
            None => Err(missing()),
        }
    }
}

/// One image found in a layout or archive, not yet stored.
struct Found {
    manifest: ManifestBlob,
    names: Vec<Reference>,
}

/// Loads every image in `path` (for an index, the one for `platform`). `tag` names the
/// image when the archive holds exactly one.
pub fn load(
    store: &Store,
    path: &Path,
    tag: Option<&str>,
    platform: &Platform,
    progress: &Progress,
) -> Result<Vec<Outcome>> {
    let tag = tag.map(Reference::parse_defaulted).transpose()?;
    let files: Box<dyn Files> = if path.is_dir() {
        Box::new(DirFiles(path.to_path_buf()))
    } else {
        let mut head = [0u8; 8];
        let n = File::open(path)
            .at("open", path)?
            .read(&mut head)
            .at("read", path)?;
        if Compression::sniff(&head[..n]) != Compression::None {
            return Err(Error::invalid(
                path.display().to_string(),
                "compressed archive: decompress it first (gunzip, zstd -d)",
            ));
        }
        Box::new(TarIndex::build(path)?)
    };
    let files = files.as_ref();
    // Newer `docker save` archives are OCI layouts too (with a manifest.json beside).
    if files.open("index.json")?.is_some() {
        store_all(
            store,
            files,
            oci::find(files, platform)?,
            &oci::blob_path,
            tag,
            progress,
        )
    } else if !path.is_dir() && files.open("manifest.json")?.is_some() {
        let (found, paths) = docker_save::find(files)?;
        store_all(
            store,
            files,
            found,
            &move |d: &Digest| paths.get(d).cloned(),
            tag,
            progress,
        )
    } else {
        Err(Error::UnknownArchive(path.to_path_buf()))
    }
}

fn store_all(
    store: &Store,
    files: &dyn Files,
    found: Vec<Found>,
    path_of: &dyn Fn(&Digest) -> Option<String>,
    tag: Option<Reference>,
    progress: &Progress,
) -> Result<Vec<Outcome>> {
    if tag.is_some() && found.len() != 1 {
        return Err(Error::Usage(format!(
            "--tag needs an archive with one image; this one has {}",
            found.len()
        )));
    }
    let mut out = Vec::new();
    for f in found {
        let names = match &tag {
            Some(t) => vec![t.clone()],
            None => f.names,
        };
        let mut source = FileBlobs {
            files,
            path_of: Box::new(path_of),
        };
        let names = Names {
            names: names.iter().map(|n| n.to_string()).collect(),
            repo_digests: Vec::new(),
        };
        out.push(ingest::ingest(
            Staging::new(store)?,
            &mut source,
            &f.manifest,
            names,
            progress,
        )?);
    }
    Ok(out)
}

/// Reads a small file of a layout or archive whole (index.json, manifest.json).
fn read_file(files: &dyn Files, path: &str, max: u64) -> Result<Vec<u8>> {
    let (r, size) = files
        .open(path)?
        .ok_or_else(|| Error::invalid(files.describe(), format!("no {path}")))?;
    if size > max {
        return Err(Error::invalid(
            files.describe(),
            format!("{path} is larger than {max} bytes"),
        ));
    }
    let mut bytes = Vec::new();
    r.take(max)
        .read_to_end(&mut bytes)
        .ctx(|| format!("read {path} in {}", files.describe()))?;
    Ok(bytes)
}
