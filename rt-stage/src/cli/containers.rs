//! run, create, start, ps, stop, kill, rm, exec, logs, restart, commit, and the hidden
//! `monitor` a detached container runs under.

use std::time::Duration;

use clap::Args;

use super::views;
use crate::container::commit::{self, CommitOptions};
use crate::container::create::{self, CreateOptions};
use crate::container::exec::{self, ExecOptions};
use crate::container::log::{self, LogWriter, LOG};
use crate::container::monitor;
use crate::container::Engine;
use crate::container::{lifecycle, teardown};
use crate::error::{Error, Result};
use crate::record::{Container, Link, NetworkMode, PortBinding};
use crate::volume::mounts::Requested;

/// Options `run` and `create` share.
#[derive(Args, Debug)]
pub struct ContainerArgs {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Publish a container's port to the host: [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<PortBinding>,
    /// Bind mount a volume: /host:/ctr[:ro], NAME:/ctr[:ro] or /ctr
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Mount volumes from the specified container(s): CONTAINER[:ro|rw]
    #[arg(long)]
    pub volumes_from: Vec<String>,
    /// Mount a tmpfs directory: /path[:size=64m,mode=1777]
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Set environment variables (KEY=VALUE, or KEY to copy ours)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image ("" clears it)
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(long)]
    pub hostname: Option<String>,
    /// Set metadata on a container: KEY=VALUE
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Memory limit (e.g. 64m)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs (e.g. 0.5)
    #[arg(long)]
    pub cpus: Option<String>,
    /// Tune container pids limit
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Connect a container to a network: bridge, host or none
    #[arg(long, default_value = "bridge")]
    pub network: NetworkMode,
    /// Add link to another container: CONTAINER[:ALIAS]
    #[arg(long)]
    pub link: Vec<Link>,
    /// Automatically remove the container (and its anonymous volumes) when it exits
    #[arg(long)]
    pub rm: bool,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub container: ContainerArgs,
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Author
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct MonitorArgs {
    pub id: String,
}

fn create_options(a: ContainerArgs) -> Result<CreateOptions> {
    Ok(CreateOptions {
        image: a.image,
        cmd: a.command,
        name: a.name,
        entrypoint: a.entrypoint,
        env: a.env,
        workdir: a.workdir,
        user: a.user,
        hostname: a.hostname,
        labels: a.labels,
        tty: a.tty,
        interactive: a.interactive,
        ports: a.publish,
        network: a.network,
        links: a.link,
        mounts: Requested {
            volumes: a.volumes,
            tmpfs: a.tmpfs,
            volumes_from: a.volumes_from,
        },
        memory: a.memory.as_deref().map(create::parse_bytes).transpose()?,
        nano_cpus: a.cpus.as_deref().map(create::parse_cpus).transpose()?,
        pids_limit: a.pids_limit,
        auto_remove: a.rm,
    })
}

pub fn create(e: &Engine, a: ContainerArgs) -> Result<i32> {
    let c = create::create(e, &create_options(a)?)?;
    println!("{}", c.id);
    Ok(0)
}

/// `run`: create, then start detached (print the id) or attached (the container's
/// output on ours, its exit status ours).
pub fn run(e: &Engine, a: RunArgs) -> Result<i32> {
    let c = create::create(e, &create_options(a.container)?)?;
    if a.detach {
        match lifecycle::start(e, &c) {
            Ok(()) => {
                println!("{}", c.id);
                Ok(0)
            }
            Err(err) => {
                if c.host.auto_remove {
                    let _ = teardown::remove(e, &c, true);
                }
                Err(err)
            }
        }
    } else {
        run_attached(e, &c)
    }
}

fn run_attached(e: &Engine, c: &Container) -> Result<i32> {
    let mut log = LogWriter::open(&e.store.container_dir(&c.id)?.join(LOG))?;
    let running = match monitor::launch(e, c, true) {
        Ok(r) => r,
        Err(err) => {
            if c.host.auto_remove {
                let _ = teardown::remove(e, c, true);
            }
            return Err(err);
        }
    };
    let code = running.supervise(&mut log, true);
    monitor::finish(e, c, code)?;
    Ok(code)
}

/// Runs `f` on each named container, printing the name as Docker does; every one is
/// tried, the first error is returned.
fn each(e: &Engine, names: &[String], f: impl Fn(&Container) -> Result<()>) -> Result<i32> {
    let mut first = None;
    for n in names {
        match e.store.find_container(n).and_then(|c| f(&c)) {
            Ok(()) => println!("{n}"),
            Err(err) if first.is_none() => first = Some(err),
            Err(err) => eprintln!("rt-stage: {err}"),
        }
    }
    first.map_or(Ok(0), Err)
}

pub fn start(e: &Engine, a: NamesArgs) -> Result<i32> {
    each(e, &a.containers, |c| lifecycle::start(e, c))
}

pub fn stop(e: &Engine, a: StopArgs) -> Result<i32> {
    each(e, &a.containers, |c| {
        lifecycle::stop(e, c, Duration::from_secs(a.time))
    })
}

pub fn restart(e: &Engine, a: StopArgs) -> Result<i32> {
    each(e, &a.containers, |c| {
        lifecycle::restart(e, c, Duration::from_secs(a.time))
    })
}

pub fn kill(e: &Engine, a: KillArgs) -> Result<i32> {
    each(e, &a.containers, |c| lifecycle::kill(e, c, &a.signal))
}

pub fn rm(e: &Engine, a: RmArgs) -> Result<i32> {
    each(e, &a.containers, |c| {
        if a.force {
            lifecycle::force_remove(e, c, a.volumes)
        } else {
            teardown::remove(e, c, a.volumes)
        }
    })
}

pub fn exec(e: &Engine, a: ExecArgs) -> Result<i32> {
    let c = e.store.find_container(&a.container)?;
    exec::exec(
        e,
        &c,
        &ExecOptions {
            interactive: a.interactive,
            tty: a.tty,
            detach: a.detach,
            env: a.env,
            user: a.user,
            workdir: a.workdir,
            cmd: a.command,
        },
    )
}

pub fn logs(e: &Engine, a: LogsArgs) -> Result<i32> {
    let c = e.store.find_container(&a.container)?;
    let path = e.store.container_dir(&c.id)?.join(LOG);
    log::replay(&path, a.follow, || {
        e.store
            .container_state(&c.id)
            .map(|s| s.is_running())
            .unwrap_or(false)
    })?;
    Ok(0)
}

pub fn ps(e: &Engine, a: PsArgs) -> Result<i32> {
    let mut rows = Vec::new();
    for c in e.store.containers()?.into_iter().rev() {
        let s = e.store.container_state(&c.id)?;
        if !a.all && !s.is_running() {
            continue;
        }
        rows.push(views::ps_row(&c, &s, a.no_trunc));
    }
    if a.quiet {
        for r in rows {
            println!("{}", r[0]);
        }
        return Ok(0);
    }
    let headers = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    print!("{}", super::format::table(&headers, &rows));
    Ok(0)
}

pub fn commit(e: &Engine, a: CommitArgs) -> Result<i32> {
    let c = e.store.find_container(&a.container)?;
    let img = commit::commit(
        e,
        &c,
        &CommitOptions {
            reference: a.reference,
            message: a.message,
            author: a.author,
            changes: a.changes,
        },
    )?;
    println!("{}", img.id);
    Ok(0)
}

pub fn monitor(e: &Engine, a: MonitorArgs) -> Result<i32> {
    monitor::run_detached(e, &a.id)?;
    Ok(0)
}

/// `inspect` of containers; None when `q` names no container (then it is an image).
pub fn inspect_one(e: &Engine, q: &str) -> Result<Option<serde_json::Value>> {
    match e.store.find_container(q) {
        Ok(c) => {
            let s = e.store.container_state(&c.id)?;
            Ok(Some(views::inspect(e.store, &c, &s)?))
        }
        Err(Error::NoSuchContainer(_)) => Ok(None),
        Err(err) => Err(err),
    }
}
