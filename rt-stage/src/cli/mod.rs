//! The `rt-stage` command line: Docker's verbs, options and messages.
//!
//! One module per group of commands: [`images`] (load, import, images, tag, rmi, prune,
//! inspect, unpack) and [`registry`] (pull, push, search, login, logout). Issue 11 adds
//! `containers` (run, create, start, ps, stop, kill, rm, exec, logs, restart, commit),
//! `volumes` (volume create/ls/rm) and `network` to [`Command`] the same way.

mod format;
mod images;
mod registry;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::Result;
use crate::store::{Store, DEFAULT_ROOT};

#[derive(Parser, Debug)]
#[command(
    name = "rt-stage",
    version,
    about = "Images, layers and registries above the rt runtime"
)]
pub struct Cli {
    /// The store: blobs, layers, image records, container references.
    #[arg(long, global = true, default_value = DEFAULT_ROOT, env = "RT_STAGE_ROOT")]
    pub root: PathBuf,

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
    /// Display detailed information on one or more images
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
}

/// Runs one command; its output goes to stdout, progress to stderr.
pub fn run(cli: Cli) -> Result<()> {
    let store = Store::open(&cli.root)?;
    match cli.command {
        Command::Load(a) => images::load(&store, a),
        Command::Import(a) => images::import(&store, a),
        Command::Images(a) => images::images(&store, a),
        Command::Tag(a) => images::tag(&store, a),
        Command::Rmi(a) => images::rmi(&store, a),
        Command::Prune(a) => images::prune(&store, a),
        Command::Inspect(a) => images::inspect(&store, a),
        Command::Unpack(a) => images::unpack(&store, a),
        Command::Pull(a) => registry::pull(&store, a),
        Command::Push(a) => registry::push(&store, a),
        Command::Search(a) => registry::search(&store, a),
        Command::Login(a) => registry::login(&store, a),
        Command::Logout(a) => registry::logout(&store, a),
    }
}
