//! The `rt-stage` command line: Docker's verbs, options and messages.
//!
//! One module per group of commands: [`images`] (load, import, images, tag, rmi, prune,
//! unpack), [`registry`] (pull, push, search, login, logout), [`containers`] (run,
//! create, start, ps, stop, kill, rm, exec, logs, restart, commit) with their looks in
//! [`views`], and [`volumes`]. `inspect` takes containers and images, as Docker's does.

mod containers;
mod format;
mod images;
mod registry;
mod views;
mod volumes;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::container::union::DriverChoice;
use crate::container::{runtime, Engine};
use crate::error::{Error, Result};
use crate::registry::tls::DEFAULT_CERTS_DIR;
use crate::store::{Store, DEFAULT_ROOT};

#[derive(Parser, Debug)]
#[command(
    name = "rt-stage",
    version,
    about = "Images, containers, volumes and networking above the rt runtime"
)]
pub struct Cli {
    /// The store: blobs, layers, image records, containers, volumes.
    #[arg(long, global = true, default_value = DEFAULT_ROOT, env = "RT_STAGE_ROOT")]
    pub root: PathBuf,

    /// The rt binary that runs containers (default: rt on PATH).
    #[arg(long = "rt", global = true, env = "RT")]
    pub rt: Option<PathBuf>,

    /// How container root filesystems are made.
    #[arg(long, global = true, value_enum, default_value_t = DriverChoice::Auto, env = "RT_STAGE_STORAGE_DRIVER")]
    pub storage_driver: DriverChoice,

    /// Per-registry TLS trust: <DIR>/<host:port>/ca.crt, client.cert, client.key.
    #[arg(long, global = true, default_value = DEFAULT_CERTS_DIR, env = "RT_STAGE_CERTS_D")]
    pub certs_dir: PathBuf,

    /// Log each step on stderr.
    #[arg(long, global = true)]
    pub debug: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load images from an OCI layout directory, an oci-archive or a docker save tar
    Load(images::LoadArgs),
    /// Create an image from a root filesystem tarball
    Import(images::ImportArgs),
    /// List images
    #[command(alias = "image-ls")]
    Images(images::ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(images::TagArgs),
    /// Remove one or more images
    Rmi(images::RmiArgs),
    /// Remove unused images, unreferenced blobs and layers, and leftovers of interrupted runs
    Prune(images::PruneArgs),
    /// Display detailed information on containers or images
    Inspect(images::InspectArgs),
    /// Write an image's merged root filesystem into a directory
    Unpack(images::UnpackArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// List a registry's repositories (filtered by TERM) and their tags
    Search(registry::SearchArgs),
    /// Log in to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// Create and run a new container from an image
    Run(containers::RunArgs),
    /// Create a new container
    Create(containers::ContainerArgs),
    /// Start one or more stopped containers
    Start(containers::NamesArgs),
    /// List containers
    Ps(containers::PsArgs),
    /// Stop one or more running containers
    Stop(containers::StopArgs),
    /// Kill one or more running containers
    Kill(containers::KillArgs),
    /// Remove one or more containers
    Rm(containers::RmArgs),
    /// Execute a command in a running container
    Exec(containers::ExecArgs),
    /// Fetch the logs of a container
    Logs(containers::LogsArgs),
    /// Restart one or more containers
    Restart(containers::StopArgs),
    /// Create a new image from a container's changes
    Commit(containers::CommitArgs),
    /// Manage volumes
    Volume(volumes::VolumeArgs),
    /// Supervise a detached container (started by `run -d` and `start`)
    #[command(hide = true)]
    Monitor(containers::MonitorArgs),
}

/// Runs one command; its output goes to stdout, progress to stderr. Returns the exit
/// status (a container's own, for `run` attached and `exec`).
pub fn run(cli: Cli) -> Result<i32> {
    let store = Store::open(&cli.root)?;
    let engine = || -> Result<Engine<'_>> {
        Ok(Engine::new(
            &store,
            runtime::locate(cli.rt.as_deref())?,
            cli.storage_driver,
            cli.debug,
        ))
    };
    // Commands that only read the store work without rt installed.
    let reader = || {
        let bin = runtime::locate(cli.rt.as_deref()).unwrap_or_else(|_| PathBuf::from("rt"));
        Engine::new(&store, bin, cli.storage_driver, cli.debug)
    };
    let done = |r: Result<()>| r.map(|()| 0);
    match cli.command {
        Command::Load(a) => done(images::load(&store, a)),
        Command::Import(a) => done(images::import(&store, a)),
        Command::Images(a) => done(images::images(&store, a)),
        Command::Tag(a) => done(images::tag(&store, a)),
        Command::Rmi(a) => done(images::rmi(&store, a)),
        Command::Prune(a) => done(images::prune(&store, a)),
        Command::Inspect(a) => inspect(&reader(), a),
        Command::Unpack(a) => done(images::unpack(&store, a)),
        Command::Pull(a) => done(registry::pull(&store, &cli.certs_dir, a)),
        Command::Push(a) => done(registry::push(&store, &cli.certs_dir, a)),
        Command::Search(a) => done(registry::search(&store, &cli.certs_dir, a)),
        Command::Login(a) => done(registry::login(&store, &cli.certs_dir, a)),
        Command::Logout(a) => done(registry::logout(&store, a)),
        Command::Volume(a) => volumes::volume(&store, a),
        Command::Run(a) => containers::run(&engine()?, a),
        Command::Create(a) => containers::create(&engine()?, a),
        Command::Start(a) => containers::start(&engine()?, a),
        Command::Ps(a) => containers::ps(&reader(), a),
        Command::Stop(a) => containers::stop(&engine()?, a),
        Command::Kill(a) => containers::kill(&engine()?, a),
        Command::Rm(a) => containers::rm(&engine()?, a),
        Command::Exec(a) => containers::exec(&engine()?, a),
        Command::Logs(a) => containers::logs(&reader(), a),
        Command::Restart(a) => containers::restart(&engine()?, a),
        Command::Commit(a) => containers::commit(&engine()?, a),
        Command::Monitor(a) => containers::monitor(&engine()?, a),
    }
}

/// Containers first, then images, each argument in turn, as Docker's `inspect`.
fn inspect(e: &Engine, a: images::InspectArgs) -> Result<i32> {
    let records = e.store.records()?;
    let mut out = Vec::new();
    for q in &a.images {
        match containers::inspect_one(e, q)? {
            Some(v) => out.push(v),
            None => match records.get(q) {
                Ok(img) => out.push(images::inspect_one(e.store, img)?),
                Err(Error::NoSuchImage(_)) => {
                    return Err(Error::Usage(format!("No such object: {q}")))
                }
                Err(err) => return Err(err),
            },
        }
    }
    let text = serde_json::to_string_pretty(&out).map_err(|e| Error::json("inspect", e))?;
    println!("{text}");
    Ok(0)
}
