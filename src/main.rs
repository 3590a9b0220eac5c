//! The `rt` command line, shaped like runc's so that containerd, Docker and
//! Podman can call it unchanged.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use rt::container::{create, delete, events, exec, features, kill, pause, ps, query, run, spec_template, start, update};
use rt::logging::{self, Format};
use rt::state::Store;

#[derive(Parser)]
#[command(name = "rt", version, about = "A low-level OCI container runtime")]
struct Cli {
    /// Directory for container state (tmpfs recommended).
    #[arg(long, global = true, default_value = "/run/rt")]
    root: PathBuf,
    /// Log file (stderr when absent).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log each pipeline step.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd for cgroups (accepted; see the cgroups documentation).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode: true, false or auto.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
struct CreateArgs {
    /// Bundle directory (holds config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is set.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// File to write the container's init pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Do not create a new session keyring (rt never creates one).
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass this many fds (from 3 up) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    id: String,
}

#[derive(clap::Args)]
struct ExecArgs {
    /// JSON file with an OCI process object (replaces the command and flags).
    #[arg(short, long)]
    process: Option<PathBuf>,
    #[arg(short, long)]
    tty: bool,
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(short, long)]
    detach: bool,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// KEY=value, repeatable.
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid]
    #[arg(short, long)]
    user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// Add a capability (repeatable).
    #[arg(short, long)]
    cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    #[arg(long)]
    apparmor: Option<String>,
    #[arg(long = "process-label")]
    process_label: Option<String>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Sub-cgroup to run in (cgroup v2).
    #[arg(long)]
    cgroup: Option<String>,
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (it waits for `start`).
    Create(CreateArgs),
    /// Run the process of a created container.
    Start { id: String },
    /// Create and start a container, attached unless --detach.
    Run {
        #[command(flatten)]
        args: CreateArgs,
        #[arg(short, long)]
        detach: bool,
        /// Do not delete the container after it exits (accepted for runc compatibility).
        #[arg(long)]
        keep: bool,
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
    },
    /// Print a container's state as JSON.
    State { id: String },
    /// List containers.
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Send a signal (default SIGTERM) to a container.
    Kill {
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container and everything it owns.
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// Print the features this build supports (OCI features document).
    Features,
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// List a container's processes (`rt ps ID -- ps options`).
    Ps {
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change a running container's resource limits.
    Update {
        #[command(flatten)]
        args: update::UpdateArgs,
        id: String,
    },
    /// Print resource usage and OOM events as JSON lines.
    Events {
        /// Print the stats once and exit.
        #[arg(long)]
        stats: bool,
        /// Time between stats (Go duration: 5s, 500ms, 1m).
        #[arg(long, default_value = "5s", value_parser = events::parse_duration)]
        interval: std::time::Duration,
        id: String,
    },
    /// Write a default config.json.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        #[arg(long)]
        rootless: bool,
    },
}

/// runc's flag parser accepts `-root` as well as `--root`; so does rt.
fn normalize(args: impl Iterator<Item = String>) -> Vec<String> {
    const LONG: [&str; 14] = [
        "root", "log", "log-format", "debug", "systemd-cgroup", "rootless", "bundle", "console-socket", "pid-file",
        "no-pivot", "no-new-keyring", "preserve-fds", "detach", "force",
    ];
    args.map(|a| {
        let name = a.strip_prefix('-').filter(|r| !r.starts_with('-')).map(|r| r.split('=').next().unwrap_or(r));
        match name {
            Some(n) if LONG.contains(&n) => format!("-{a}"),
            _ => a,
        }
    })
    .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize(std::env::args()));
    let format = match cli.log_format {
        LogFormat::Text => Format::Text,
        LogFormat::Json => Format::Json,
    };
    logging::init(cli.log.clone(), format, cli.debug);
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let msg = e.to_string();
            logging::error(&msg);
            let _ = writeln!(std::io::stderr(), "rt: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn options(a: CreateArgs, systemd_cgroup: bool) -> create::CreateOptions {
    create::CreateOptions {
        id: a.id,
        bundle: a.bundle,
        console_socket: a.console_socket,
        pid_file: a.pid_file,
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        console_fd: None,
        systemd_cgroup,
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let store = Store::new(&cli.root);
    match cli.cmd {
        Cmd::Create(a) => {
            create::create(&store, options(a, cli.systemd_cgroup))?;
        }
        Cmd::Start { id } => start::start(&store, &id)?,
        Cmd::Run { args, detach, .. } => return Ok(run::run(&store, options(args, cli.systemd_cgroup), detach)?),
        Cmd::State { id } => println!("{}", query::state_json(&store, &id)?),
        Cmd::List { format, quiet } => {
            let f = match format.as_str() {
                "table" => query::ListFormat::Table,
                "json" => query::ListFormat::Json,
                other => anyhow::bail!("invalid --format {other:?}: table or json"),
            };
            query::list(&store, f, quiet, &mut std::io::stdout().lock())?;
        }
        Cmd::Kill { all, id, signal } => kill::kill(&store, &id, rt::signal::parse(&signal)?, all)?,
        Cmd::Delete { force, id } => delete::delete(&store, &id, force)?,
        Cmd::Features => println!("{}", serde_json::to_string_pretty(&features::features())?),
        Cmd::Exec(a) => return exec_command(&store, a),
        Cmd::Pause { id } => pause::pause(&store, &id)?,
        Cmd::Resume { id } => pause::resume(&store, &id)?,
        Cmd::Ps { format, id, ps_args } => {
            let f = match format.as_str() {
                "table" => ps::PsFormat::Table,
                "json" => ps::PsFormat::Json,
                other => anyhow::bail!("invalid --format {other:?}: table or json"),
            };
            ps::ps(&store, &id, f, &ps_args, &mut std::io::stdout().lock())?;
        }
        Cmd::Update { args, id } => update::update(&store, &id, &args)?,
        Cmd::Events { stats, interval, id } => events::events(&store, &id, stats, interval, &mut std::io::stdout().lock())?,
        Cmd::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            if path.exists() {
                anyhow::bail!("File {} exists. Remove it first", path.display());
            }
            let v = spec_template::default_spec(rootless, nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw())?;
            std::fs::write(&path, spec_template::to_pretty(&v)?)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        }
    }
    Ok(0)
}

fn exec_command(store: &Store, a: ExecArgs) -> anyhow::Result<i32> {
    if a.cgroup.is_some() {
        anyhow::bail!("--cgroup needs cgroup v2 sub-cgroups, which are not supported yet (issue #12)");
    }
    let opts = exec::ExecOptions {
        id: a.id,
        process_file: a.process,
        overrides: exec::Overrides {
            args: a.command,
            env: a.env,
            cwd: a.cwd,
            user: a.user,
            additional_gids: a.additional_gids,
            caps: a.cap,
            no_new_privs: a.no_new_privs,
            tty: a.tty,
            apparmor: a.apparmor,
            process_label: a.process_label,
        },
        console_socket: a.console_socket,
        pid_file: a.pid_file,
        detach: a.detach,
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
    };
    Ok(exec::exec(store, opts)?)
}
