//! pull, push, search, login, logout.

use std::io::{self, BufRead};
use std::path::Path;

use clap::Args;

use super::format;
use crate::error::{Error, Result};
use crate::ingest::LayerStatus;
use crate::platform::Platform;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::push::{BlobStatus, PushOptions};
use crate::registry::{
    auth, pull as pull_mod, push as push_mod, search as search_mod, Client, Credentials,
};
use crate::store::Store;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// NAME[:TAG|@DIGEST]
    pub image: String,
    #[arg(long, default_value_t = Platform::host())]
    pub platform: Platform,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// NAME[:TAG]
    pub image: String,
    /// Upload blobs bigger than this in chunks of this many bytes (k/M suffixes); default: one request per blob
    #[arg(long, value_parser = parse_size)]
    pub chunk_size: Option<u64>,
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// REGISTRY[/TERM]: repositories of REGISTRY whose name contains TERM
    pub term: String,
    /// Max number of repositories
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    pub server: String,
    #[arg(short, long)]
    pub username: Option<String>,
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    pub server: String,
}

pub fn pull(store: &Store, certs_dir: &Path, a: PullArgs) -> Result<()> {
    let r = Reference::parse_defaulted(&a.image)?;
    let creds = auth::saved_credentials(store, &r.registry)?;
    if !a.quiet {
        println!("{}: Pulling from {}", r.selector(), r.repository);
    }
    let progress = if a.quiet {
        Progress::hidden()
    } else {
        Progress::auto()
    };
    let pulled = pull_mod::pull(store, &r, &a.platform, certs_dir, creds, &progress);
    progress.close();
    let pulled = pulled?;
    if !a.quiet {
        let mut fresh = false;
        for (d, s) in &pulled.outcome.layers {
            fresh |= *s == LayerStatus::Fetched;
            let word = if *s == LayerStatus::Fetched {
                "Pull complete"
            } else {
                "Already exists"
            };
            println!("{}: {word}", d.short());
        }
        println!("Digest: {}", pulled.digest);
        let status = if fresh {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        println!("Status: {status} {}", r.familiar());
    }
    println!("{}", r.familiar());
    Ok(())
}

pub fn push(store: &Store, certs_dir: &Path, a: PushArgs) -> Result<()> {
    let r = Reference::parse_defaulted(&a.image)?;
    let creds = auth::saved_credentials(store, &r.registry)?;
    if !a.quiet {
        println!("The push refers to repository [{}]", r.familiar_name());
    }
    let progress = if a.quiet {
        Progress::hidden()
    } else {
        Progress::auto()
    };
    let pushed = push_mod::push(
        store,
        &r,
        &PushOptions {
            chunk_size: a.chunk_size,
        },
        certs_dir,
        creds,
        &progress,
    );
    progress.close();
    let pushed = pushed?;
    if !a.quiet {
        for (d, s) in &pushed.blobs {
            match s {
                BlobStatus::AlreadyExists => println!("{}: Layer already exists", d.short()),
                BlobStatus::Mounted(from) => println!("{}: Mounted from {from}", d.short()),
                BlobStatus::Pushed => println!("{}: Pushed", d.short()),
            }
        }
    }
    println!(
        "{}: digest: {} size: {}",
        r.selector(),
        pushed.digest,
        pushed.size
    );
    Ok(())
}

pub fn search(store: &Store, certs_dir: &Path, a: SearchArgs) -> Result<()> {
    let (registry, term) = a.term.split_once('/').unwrap_or((a.term.as_str(), ""));
    if !(registry.contains(['.', ':']) || registry == "localhost") {
        return Err(Error::Usage(format!(
            "search needs a registry: REGISTRY[/TERM], got {:?}",
            a.term
        )));
    }
    let creds = auth::saved_credentials(store, registry)?;
    let client = Client::new(
        registry,
        certs_dir,
        creds,
        vec!["registry:catalog:*".into()],
    )?;
    let found = search_mod::search(&client, term, a.limit)?;
    let rows: Vec<Vec<String>> = found
        .into_iter()
        .map(|f| vec![format!("{registry}/{}", f.repository), f.tags.join(", ")])
        .collect();
    print!("{}", format::table(&["NAME", "TAGS"], &rows));
    Ok(())
}

pub fn login(store: &Store, certs_dir: &Path, a: LoginArgs) -> Result<()> {
    let username = match a.username {
        Some(u) => u,
        None => return Err(Error::Usage("login needs --username".into())),
    };
    let password = match (a.password, a.password_stdin) {
        (Some(_), true) => {
            return Err(Error::Usage(
                "--password and --password-stdin are mutually exclusive".into(),
            ))
        }
        (Some(p), false) => p,
        (None, _) => {
            let mut line = String::new();
            io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::Io {
                    context: "read password from stdin".into(),
                    source: e,
                })?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
    };
    let creds = Credentials { username, password };
    crate::registry::check_login(&a.server, certs_dir, &creds)?;
    auth::save_credentials(store, &a.server, &creds)?;
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(store: &Store, a: LogoutArgs) -> Result<()> {
    if auth::forget_credentials(store, &a.server)? {
        println!("Removing login credentials for {}", a.server);
    } else {
        println!("Not logged in to {}", a.server);
    }
    Ok(())
}

/// `65536`, `64k`, `8M`.
fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1024),
        Some((i, 'm' | 'M')) => (&s[..i], 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(|n| n * mult)
        .ok_or_else(|| format!("invalid size {s:?}"))
}
