//! The `rt` command line, shaped like runc's so that containerd, Docker and
//! Podman can call it unchanged.
// On x86_64 Linux the C library calls `entry::main`, which sets up only
// what rt uses of Rust's runtime (see there); the unit tests keep libtest's.
#![cfg_attr(all(target_arch = "x86_64", target_os = "linux", not(test)), no_main)]

use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use rt::container::{
    checkpoint, create, delete, events, exec, features, kill, migrate, pause, ps, query, restore,
    run, spec_template, start, update,
};
use rt::logging::{self, Format};
use rt::state::Store;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod entry;
mod help;

#[derive(Parser)]
// The version flag is rt's own (`-v`, `--version`), for runc's format;
// help is rendered by `help`, in runc's layout (clap's help command is off,
// its help flag is caught in `parse_failed`). A flag given twice is no
// error, as with runc (Podman passes --leave-running twice): the last
// value wins, repeatable flags collect every value.
#[command(
    name = "rt",
    about = "A low-level OCI container runtime",
    disable_version_flag = true,
    disable_help_subcommand = true,
    args_override_self = true
)]
struct Cli {
    /// Directory for container state (tmpfs recommended): /run/rt, or
    /// $XDG_RUNTIME_DIR/rt when rootless (a user other than root, or root
    /// of a user namespace other than the host's).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Log file (stderr when absent).
    #[arg(long)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log each pipeline step.
    #[arg(long)]
    debug: bool,
    /// The container's cgroup is a transient systemd scope, asked of systemd
    /// over D-Bus; linux.cgroupsPath is slice:prefix:name.
    #[arg(long = "systemd-cgroup")]
    systemd_cgroup: bool,
    /// Cgroups the caller may not make are skipped, not an error: true, false
    /// or auto (when rt is not run by root, or by root of a user namespace
    /// without --systemd-cgroup).
    #[arg(long, default_value = "auto", value_parser = parse_rootless)]
    rootless: Rootless,
    /// Print the version (runc's format: Docker and Podman parse it).
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

/// `--rootless`: forced on or off, or None for auto.
#[derive(Clone, Copy)]
struct Rootless(Option<bool>);

/// runc's spellings: auto (or empty), or a Go boolean.
fn parse_rootless(s: &str) -> Result<Rootless, String> {
    match s {
        "" => Ok(Rootless(None)),
        _ if s.eq_ignore_ascii_case("auto") => Ok(Rootless(None)),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Rootless(Some(true))),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(Rootless(Some(false))),
        _ => Err("expected true, false or auto".into()),
    }
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
    /// Unix socket that receives a pidfd of the container's init.
    #[arg(long = "pidfd-socket")]
    pidfd_socket: Option<PathBuf>,
    /// File to write the container's init pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Keep the caller's session keyring instead of giving the container
    /// (and its exec'd processes) one of its own.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass this many fds (from 3 up) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    #[arg(value_name = "container-id")]
    id: String,
}

#[derive(clap::Args)]
struct ExecArgs {
    /// JSON file with an OCI process object (replaces the command and flags).
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Allocate a pseudo-terminal for the process.
    #[arg(short, long)]
    tty: bool,
    /// Unix socket that receives the pty master (with --tty).
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the process.
    #[arg(long = "pidfd-socket")]
    pidfd_socket: Option<PathBuf>,
    /// Do not wait for the process: rt exits once it runs.
    #[arg(short, long)]
    detach: bool,
    /// File to write the process's pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// KEY=value, repeatable.
    #[arg(short, long)]
    env: Vec<String>,
    /// User to run as: uid[:gid].
    #[arg(short, long)]
    user: Option<String>,
    /// Additional group id (repeatable).
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// Add a capability (repeatable).
    #[arg(short, long)]
    cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// AppArmor profile for the process.
    #[arg(long)]
    apparmor: Option<String>,
    /// SELinux label for the process.
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// Pass this many fds (from 3 up) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Exec even if the container is paused (the process starts frozen).
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Run in an existing sub-cgroup of the container's: `path` (every
    /// hierarchy) or `controller[,controller]:path` (cgroup v1); repeatable.
    #[arg(long)]
    cgroup: Vec<String>,
    #[arg(value_name = "container-id")]
    id: String,
    /// The command and its arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// The criu options `checkpoint`, `restore` and `migrate` share (runc's names).
#[derive(clap::Args)]
struct CriuFlags {
    /// Dump and restore established TCP connections.
    #[arg(long = "tcp-established")]
    tcp_established: bool,
    /// Allow unix sockets connected to the outside.
    #[arg(long = "ext-unix-sk")]
    ext_unix_sk: bool,
    /// The container is a shell job (its session and terminal are outside).
    #[arg(long = "shell-job")]
    shell_job: bool,
    /// Dump and restore file locks.
    #[arg(long = "file-locks")]
    file_locks: bool,
    /// cgroups mode for criu: soft (default), full, strict or ignore.
    #[arg(long = "manage-cgroups-mode")]
    manage_cgroups_mode: Option<String>,
}

#[derive(clap::Args)]
struct CheckpointArgs {
    /// Where criu's images go.
    #[arg(long = "image-path", default_value = "checkpoint")]
    image_path: PathBuf,
    /// Where criu's log and work files go (default: the image path).
    #[arg(long = "work-path")]
    work_path: Option<PathBuf>,
    /// Images of a previous --pre-dump, relative to --image-path.
    #[arg(long = "parent-path")]
    parent_path: Option<PathBuf>,
    /// Keep the container running after the dump.
    #[arg(long = "leave-running")]
    leave_running: bool,
    /// Dump memory only (for a later dump with --parent-path); keeps running.
    #[arg(long = "pre-dump")]
    pre_dump: bool,
    /// Namespace to leave empty on restore (only "network").
    #[arg(long = "empty-ns")]
    empty_ns: Vec<String>,
    /// Deduplicate pages against the parent images.
    #[arg(long = "auto-dedup")]
    auto_dedup: bool,
    /// Serve memory pages on demand to a lazy restore.
    #[arg(long = "lazy-pages")]
    lazy_pages: bool,
    /// ADDRESS:PORT of a criu page server (or where to serve lazy pages).
    #[arg(long = "page-server")]
    page_server: Option<String>,
    /// fd criu writes to once lazy pages can be served.
    #[arg(long = "status-fd")]
    status_fd: Option<i32>,
    #[command(flatten)]
    criu: CriuFlags,
    #[arg(value_name = "container-id")]
    id: String,
}

#[derive(clap::Args)]
struct RestoreArgs {
    /// The images to restore from.
    #[arg(long = "image-path", default_value = "checkpoint")]
    image_path: PathBuf,
    /// Where criu's log and work files go (default: the image path).
    #[arg(long = "work-path")]
    work_path: Option<PathBuf>,
    /// Bundle whose config.json to use (default: the one saved in the images).
    #[arg(short, long)]
    bundle: Option<PathBuf>,
    /// Do not wait for the restored container (as `run -d`).
    #[arg(short, long)]
    detach: bool,
    /// File to write the container's init pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master of a restored terminal.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility (criu pivots into the root itself).
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted for runc compatibility.
    #[arg(long = "no-subreaper")]
    no_subreaper: bool,
    /// Namespace to leave empty (only "network").
    #[arg(long = "empty-ns")]
    empty_ns: Vec<String>,
    /// Deduplicate pages against the parent images.
    #[arg(long = "auto-dedup")]
    auto_dedup: bool,
    /// Fetch memory pages on demand from `criu lazy-pages`.
    #[arg(long = "lazy-pages")]
    lazy_pages: bool,
    #[command(flatten)]
    criu: CriuFlags,
    #[arg(value_name = "container-id")]
    id: String,
}

#[derive(clap::Args)]
struct MigrateArgs {
    /// The rt state root (--root) the container moves to.
    #[arg(long)]
    to: PathBuf,
    /// Its id there (default: the same).
    #[arg(long = "new-id")]
    new_id: Option<String>,
    /// Pre-dump iterations before the final dump.
    #[arg(long = "pre-dumps", default_value_t = 2)]
    pre_dumps: u32,
    /// Where the images go (default: a temporary directory).
    #[arg(long = "image-path")]
    image_path: Option<PathBuf>,
    /// Keep the images after a successful migration.
    #[arg(long = "keep-images")]
    keep_images: bool,
    /// Bundle whose config.json the moved container uses.
    #[arg(short, long)]
    bundle: Option<PathBuf>,
    /// File to write the moved container's init pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master of a restored terminal.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[command(flatten)]
    criu: CriuFlags,
    #[arg(value_name = "container-id")]
    id: String,
}

// Each command's arguments are added to clap's model of the command line
// only when that command is parsed (or its help shown): building all of
// them, ~200 arguments, was most of what parsing cost, on every call.
#[derive(Subcommand)]
#[command(defer = true)]
enum Cmd {
    /// Create a container (it waits for `start`).
    Create(CreateArgs),
    /// Run the process of a created container.
    Start {
        #[arg(value_name = "container-id")]
        id: String,
    },
    /// Create and start a container, attached unless --detach.
    Run {
        #[command(flatten)]
        args: CreateArgs,
        /// Do not wait for the container: rt exits once it runs.
        #[arg(short, long)]
        detach: bool,
        /// Keep the stopped container (state, cgroups) after it exits, for a later delete.
        #[arg(long)]
        keep: bool,
        /// Accepted for runc compatibility.
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
    },
    /// Print a container's state as JSON.
    State {
        #[arg(value_name = "container-id")]
        id: String,
    },
    /// List containers.
    List {
        /// Output format: table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Print only the container ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Send a signal (default SIGTERM) to a container.
    Kill {
        /// Signal every process in the container's cgroup; no error if it has stopped.
        #[arg(short, long)]
        all: bool,
        #[arg(value_name = "container-id")]
        id: String,
        /// Signal name or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container and everything it owns.
    Delete {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        #[arg(value_name = "container-id")]
        id: String,
    },
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// Print the features this build supports (OCI features document).
    Features,
    /// Freeze every process of a container.
    Pause {
        #[arg(value_name = "container-id")]
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        #[arg(value_name = "container-id")]
        id: String,
    },
    /// List a container's processes (`rt ps ID -- ps options`).
    Ps {
        /// Output format: table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        #[arg(value_name = "container-id")]
        id: String,
        /// Options for ps(1) (table format).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change a running container's resource limits.
    Update {
        #[command(flatten)]
        args: update::UpdateArgs,
        #[arg(value_name = "container-id")]
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
        #[arg(value_name = "container-id")]
        id: String,
    },
    /// Checkpoint a running container with criu.
    Checkpoint(CheckpointArgs),
    /// Restore a container from a checkpoint.
    Restore(RestoreArgs),
    /// Move a running container to another --root: pre-dumps, dump, restore.
    Migrate(MigrateArgs),
    /// Write a default config.json.
    Spec {
        /// Bundle directory to write config.json to.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A config for a user other than root (user namespace, no cgroups).
        #[arg(long)]
        rootless: bool,
    },
}

/// runc's flag parser accepts `-root` as well as `--root`; so does rt.
fn normalize(args: impl Iterator<Item = String>) -> Vec<String> {
    const LONG: [&str; 15] = [
        "root",
        "log",
        "log-format",
        "debug",
        "systemd-cgroup",
        "rootless",
        "bundle",
        "console-socket",
        "pidfd-socket",
        "pid-file",
        "no-pivot",
        "no-new-keyring",
        "preserve-fds",
        "detach",
        "force",
    ];
    args.map(|a| {
        let name = a
            .strip_prefix('-')
            .filter(|r| !r.starts_with('-'))
            .map(|r| r.split('=').next().unwrap_or(r));
        match name {
            Some(n) if LONG.contains(&n) => format!("-{a}"),
            _ => a,
        }
    })
    .collect()
}

/// The status rt exits with (`rt_main`'s result).
#[derive(Clone, Copy)]
struct ExitCode(u8);

impl ExitCode {
    const SUCCESS: Self = Self(0);
    const FAILURE: Self = Self(1);
}

impl From<u8> for ExitCode {
    fn from(code: u8) -> Self {
        Self(code)
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(test))))]
fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(rt_main().0)
}

fn rt_main() -> ExitCode {
    // The commands that start processes in containers (create, run, exec)
    // run from a binary the containers cannot write (CVE-2019-5736, see
    // rt::exeseal), re-executed before anything else: argument parsing and
    // the rest would otherwise run twice. Any argument naming such a
    // command counts (an id "run" costs one re-exec): a superset of the
    // parsed commands, which have no aliases.
    if std::env::args_os()
        .skip(1)
        .any(|a| a == "create" || a == "run" || a == "exec")
    {
        if let Err(e) = rt::exeseal::ensure() {
            let _ = writeln!(std::io::stderr(), "{}: {e}", called_name());
            return ExitCode::FAILURE;
        }
    }
    let args = normalize(std::env::args());
    let mut command = Cli::command();
    if let Some(req) = help::help_command(&command, &args) {
        return show_help(&args, &req);
    }
    let cli = match parse(&mut command, &args) {
        Ok(cli) => cli,
        Err(e) => return parse_failed(&args, e),
    };
    // clap's model of the command line (~150 KiB of heap) is freed before
    // the work: what the command allocates next reuses it instead of new
    // pages, and no free of it comes after a clone (see exec::exec).
    drop(command);
    if cli.version {
        print_out(&version_text());
        return ExitCode::SUCCESS;
    }
    // Before rt opens anything (the log first): which of the fds it is to
    // pass are the caller's (see init::note_passed_fds).
    let preserve_fds = match &cli.cmd {
        Cmd::Create(a) | Cmd::Run { args: a, .. } => a.preserve_fds,
        Cmd::Exec(a) => a.preserve_fds,
        _ => 0,
    };
    rt::init::note_passed_fds(preserve_fds);
    let format = match cli.log_format {
        LogFormat::Text => Format::Text,
        LogFormat::Json => Format::Json,
    };
    logging::init(cli.log.clone(), format, cli.debug);
    // runc's `exec` exits 255 when it fails itself, so that callers tell
    // its failure from the program's own status (1 is common there).
    let failure = match cli.cmd {
        Cmd::Exec(_) => ExitCode::from(255),
        _ => ExitCode::FAILURE,
    };
    // runc's words around the commands that start a container's process
    // ("runc create failed: ...", "exec failed: ..."): containerd hands
    // them on ("OCI runtime create failed: ...") and people search them.
    let wrap = match &cli.cmd {
        Cmd::Create(_) => Some(format!("{} create failed: ", called_name())),
        Cmd::Run { .. } => Some(format!("{} run failed: ", called_name())),
        Cmd::Exec(_) => Some("exec failed: ".to_string()),
        _ => None,
    };
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let msg = e.to_string();
            match wrap {
                Some(prefix) => {
                    let msg = format!("{prefix}{msg}");
                    logging::error(&msg);
                    let _ = writeln!(std::io::stderr(), "{msg}");
                }
                None => {
                    logging::error(&msg);
                    let _ = writeln!(std::io::stderr(), "{}: {msg}", called_name());
                }
            }
            failure
        }
    }
}

/// `Cli::try_parse_from` on the command already built for the help check,
/// with the options of [`ANYWHERE`] accepted after the command too.
fn parse(command: &mut clap::Command, args: &[String]) -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let named = help::command_index(command, args)
        .and_then(|i| args.get(i))
        .filter(|name| command.find_subcommand(name.as_str()).is_some());
    if let Some(name) = named {
        let copies: Vec<clap::Arg> = command
            .get_arguments()
            .filter(|a| ANYWHERE.contains(&a.get_id().as_str()))
            .map(|a| a.clone().hide(true))
            .collect();
        *command = std::mem::take(command).mut_subcommand(name, |sub| sub.args(copies));
    }
    let mut matches = command.try_get_matches_from_mut(args)?;
    let later = named
        .and_then(|_| matches.subcommand())
        .map(|(_, sub)| Later::of(sub));
    let mut cli =
        Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut Cli::command()))?;
    if let Some(later) = later {
        later.apply(&mut cli);
    }
    Ok(cli)
}

/// The root's options that may also follow the command (`rt run --debug
/// ...`), as clap's global arguments may. They are not global to clap,
/// which would copy each into all 18 commands on every call: 90 copies,
/// a third of the instructions of `rt state` and 18 of its 153 page faults.
/// [`parse`] gives a hidden copy to the one command the line names.
const ANYWHERE: [&str; 5] = ["root", "log", "log_format", "debug", "systemd_cgroup"];

/// The [`ANYWHERE`] options given after the command: they win over the
/// same options before it, being later on the line.
struct Later {
    root: Option<PathBuf>,
    log: Option<PathBuf>,
    log_format: Option<LogFormat>,
    debug: bool,
    systemd_cgroup: bool,
}

impl Later {
    fn of(m: &clap::ArgMatches) -> Later {
        let given = |id: &str| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        let path = |id: &str| {
            given(id)
                .then(|| m.get_one::<PathBuf>(id).cloned())
                .flatten()
        };
        Later {
            root: path("root"),
            log: path("log"),
            log_format: given("log_format")
                .then(|| m.get_one::<LogFormat>("log_format").copied())
                .flatten(),
            debug: given("debug"),
            systemd_cgroup: given("systemd_cgroup"),
        }
    }

    fn apply(self, cli: &mut Cli) {
        cli.root = self.root.or(cli.root.take());
        cli.log = self.log.or(cli.log.take());
        cli.log_format = self.log_format.unwrap_or(cli.log_format);
        cli.debug |= self.debug;
        cli.systemd_cgroup |= self.systemd_cgroup;
    }
}

/// The name rt was called by (a copy installed as `runc` names itself
/// runc in its help, version and errors, as runc's own tests expect of a
/// drop-in), or "rt".
fn called_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "rt".into())
}

/// runc's `--version` lines: Docker reads "<name> version <v>" from the
/// first and the commit from "commit:", Podman shows the whole text.
fn version_text() -> String {
    format!(
        "{} version {}\ncommit: {}\nspec: {}",
        called_name(),
        env!("CARGO_PKG_VERSION"),
        env!("RT_COMMIT"),
        rt::state::OCI_VERSION
    )
}

/// The command line did not parse. `--version` without a command lands
/// here (clap insists on a command), and so do help flags and a line
/// without a command (help, as runc prints it). An unknown command fails
/// with runc's words and status. Otherwise a usage error also goes to
/// `--log`, in the requested format, when the line names one: containerd's
/// shim reports the last error in log.json, and without it would only say
/// that log.json does not exist.
fn parse_failed(args: &[String], e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let wants_version = args.iter().skip(1).any(|a| a == "--version" || a == "-v");
    let no_command = matches!(
        e.kind(),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if wants_version && no_command {
        print_out(&version_text());
        return ExitCode::SUCCESS;
    }
    let cli = Cli::command();
    match e.kind() {
        ErrorKind::DisplayHelp => return show_help(args, &help::flag_request(&cli, args)),
        _ if no_command => return show_help(args, &help::Request::Main),
        ErrorKind::InvalidSubcommand => {
            if let Some(name) = help::unknown_command(&cli, args) {
                return usage_failed(args, &help::no_topic(&name), 3);
            }
        }
        _ => {}
    }
    if e.use_stderr() {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        log_usage_error(args, first.strip_prefix("error: ").unwrap_or(first));
    }
    e.exit()
}

/// Print help to stdout, or fail as runc does for an unknown topic. The
/// help names the program as it was called (a copy installed as `runc`
/// says `runc create`), as runc's own tests expect.
fn show_help(args: &[String], req: &help::Request) -> ExitCode {
    match help::render(&Cli::command().name(called_name()), req, &version_text()) {
        Ok(text) => {
            let _ = write!(std::io::stdout().lock(), "{text}");
            ExitCode::SUCCESS
        }
        Err(msg) => usage_failed(args, &msg, 3),
    }
}

/// A usage error rt words itself: one line on stderr, and in `--log`.
fn usage_failed(args: &[String], msg: &str, code: u8) -> ExitCode {
    log_usage_error(args, msg);
    let _ = writeln!(std::io::stderr(), "{}: {msg}", called_name());
    ExitCode::from(code)
}

/// A usage error goes to `--log` too, in the requested format, when the
/// line names one.
fn log_usage_error(args: &[String], msg: &str) {
    if let Some(log) = flag_value(args, "--log") {
        let format = match flag_value(args, "--log-format").as_deref() {
            Some("json") => Format::Json,
            _ => Format::Text,
        };
        logging::init(Some(PathBuf::from(log)), format, false);
        logging::error(msg);
    }
}

/// The value of a global flag (`--flag value` or `--flag=value`) in an
/// unparsed command line.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == flag {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            return Some(v.to_string());
        }
    }
    None
}

fn options(a: CreateArgs, systemd_cgroup: bool, rootless: Rootless) -> create::CreateOptions {
    create::CreateOptions {
        id: a.id,
        bundle: a.bundle,
        console_socket: a.console_socket,
        pid_file: a.pid_file,
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        console_fd: None,
        systemd_cgroup,
        pidfd_socket: a.pidfd_socket,
        rootless_cgroups: rootless
            .0
            .unwrap_or_else(|| create::rootless_cgroups(systemd_cgroup)),
    }
}

/// `--root` when it is not given: runc's choice, with rt's name.
/// $XDG_RUNTIME_DIR/rt for a user other than root, and for root of a user
/// namespace that is not the host's (rootless Podman runs its runtime as
/// root of its own) unless $USER says root; /run/rt for the host's root,
/// whose XDG_RUNTIME_DIR (/run/user/0) runc ignores too.
fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    match xdg {
        Some(dir) if honors_xdg_runtime_dir() => PathBuf::from(dir).join("rt"),
        _ => PathBuf::from("/run/rt"),
    }
}

fn honors_xdg_runtime_dir() -> bool {
    if !nix::unistd::geteuid().is_root() {
        return true;
    }
    create::in_user_namespace() && std::env::var_os("USER").is_none_or(|u| u != "root")
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let store = Store::new(cli.root.clone().unwrap_or_else(default_root));
    match cli.cmd {
        Cmd::Create(a) => {
            create::create(&store, options(a, cli.systemd_cgroup, cli.rootless))?;
        }
        Cmd::Start { id } => start::start(&store, &id)?,
        Cmd::Run {
            args, detach, keep, ..
        } => {
            let opts = options(args, cli.systemd_cgroup, cli.rootless);
            return Ok(run::run(&store, opts, detach, keep)?);
        }
        Cmd::State { id } => print_out(&query::state_json(&store, &id)?),
        Cmd::List { format, quiet } => {
            let f = match format.as_str() {
                "table" => query::ListFormat::Table,
                "json" => query::ListFormat::Json,
                other => anyhow::bail!("invalid --format {other:?}: table or json"),
            };
            let root_given = cli.root.is_some();
            query::list(&store, root_given, f, quiet, &mut std::io::stdout().lock())?;
        }
        Cmd::Kill { all, id, signal } => kill::kill(&store, &id, rt::signal::parse(&signal)?, all)?,
        Cmd::Delete { force, id } => delete::delete(&store, &id, force)?,
        Cmd::Features => print_out(&serde_json::to_string_pretty(&features::features())?),
        Cmd::Exec(a) => return exec_command(&store, a),
        Cmd::Pause { id } => pause::pause(&store, &id)?,
        Cmd::Resume { id } => pause::resume(&store, &id)?,
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => {
            let f = match format.as_str() {
                "table" => ps::PsFormat::Table,
                "json" => ps::PsFormat::Json,
                other => anyhow::bail!("invalid --format {other:?}: table or json"),
            };
            ps::ps(&store, &id, f, &ps_args, &mut std::io::stdout().lock())?;
        }
        Cmd::Update { args, id } => update::update(&store, &id, &args)?,
        Cmd::Events {
            stats,
            interval,
            id,
        } => events::events(&store, &id, stats, interval, &mut std::io::stdout().lock())?,
        Cmd::Checkpoint(a) => {
            checkpoint::checkpoint(&store, &checkpoint_options(a))?;
        }
        Cmd::Restore(a) => return Ok(restore::restore(&store, &restore_options(a))?),
        Cmd::Migrate(a) => {
            migrate::migrate(&store, &migrate_options(a))?;
        }
        Cmd::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            if path.exists() {
                anyhow::bail!("File {} exists. Remove it first", path.display());
            }
            let v = spec_template::default_spec(
                rootless,
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
                nix::sys::statfs::statfs("/sys/fs/cgroup")
                    .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC),
            )?;
            std::fs::write(&path, spec_template::to_pretty(&v)?)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        }
    }
    Ok(0)
}

fn checkpoint_options(a: CheckpointArgs) -> checkpoint::CheckpointOptions {
    checkpoint::CheckpointOptions {
        id: a.id,
        image_path: a.image_path,
        work_path: a.work_path,
        parent_path: a.parent_path,
        leave_running: a.leave_running,
        tcp_established: a.criu.tcp_established,
        ext_unix_sk: a.criu.ext_unix_sk,
        shell_job: a.criu.shell_job,
        file_locks: a.criu.file_locks,
        pre_dump: a.pre_dump,
        manage_cgroups_mode: a.criu.manage_cgroups_mode,
        empty_ns: a.empty_ns,
        auto_dedup: a.auto_dedup,
        lazy_pages: a.lazy_pages,
        page_server: a.page_server,
        status_fd: a.status_fd,
    }
}

fn restore_options(a: RestoreArgs) -> restore::RestoreOptions {
    let _ = a.no_subreaper;
    restore::RestoreOptions {
        id: a.id,
        image_path: a.image_path,
        work_path: a.work_path,
        bundle: a.bundle,
        detach: a.detach,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        no_pivot: a.no_pivot,
        manage_cgroups_mode: a.criu.manage_cgroups_mode,
        tcp_established: a.criu.tcp_established,
        ext_unix_sk: a.criu.ext_unix_sk,
        shell_job: a.criu.shell_job,
        file_locks: a.criu.file_locks,
        empty_ns: a.empty_ns,
        auto_dedup: a.auto_dedup,
        lazy_pages: a.lazy_pages,
    }
}

fn migrate_options(a: MigrateArgs) -> migrate::MigrateOptions {
    migrate::MigrateOptions {
        id: a.id,
        to: a.to,
        new_id: a.new_id,
        image_path: a.image_path,
        keep_images: a.keep_images,
        pre_dumps: a.pre_dumps,
        bundle: a.bundle,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        tcp_established: a.criu.tcp_established,
        ext_unix_sk: a.criu.ext_unix_sk,
        shell_job: a.criu.shell_job,
        file_locks: a.criu.file_locks,
        manage_cgroups_mode: a.criu.manage_cgroups_mode,
    }
}

fn exec_command(store: &Store, a: ExecArgs) -> anyhow::Result<i32> {
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
        cgroup: a.cgroup,
        pidfd_socket: a.pidfd_socket,
    };
    Ok(exec::exec(store, opts)?)
}

/// Print a line to stdout. A reader that has gone (`rt state | grep -q`)
/// is not an error: the output was not wanted any more.
fn print_out(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeatable_flags_keep_every_value_when_others_may_repeat() {
        let args = [
            "rt", "--debug", "--debug", "exec", "-e", "A=1", "-e", "B=2", "-d", "-d", "x", "sh",
        ];
        let cli = Cli::try_parse_from(args).expect("parses");
        let Cmd::Exec(a) = cli.cmd else {
            panic!("not exec")
        };
        assert_eq!(a.env, ["A=1", "B=2"]);
        assert!(a.detach);
    }

    fn parsed(line: &str) -> Cli {
        let args: Vec<String> = line.split(' ').map(String::from).collect();
        parse(&mut Cli::command(), &args).expect("parses")
    }

    #[test]
    fn root_options_may_follow_the_command_and_win_there() {
        let cli = parsed("rt --log-format text --root /a run --log-format json --root /b --debug --systemd-cgroup --log /l x");
        assert!(matches!(cli.log_format, LogFormat::Json));
        assert_eq!(cli.root, Some(PathBuf::from("/b")));
        assert_eq!(cli.log, Some(PathBuf::from("/l")));
        assert!(cli.debug && cli.systemd_cgroup);
        let cli = parsed("rt --root /a --debug state x");
        assert_eq!(cli.root, Some(PathBuf::from("/a")));
        assert!(cli.debug && matches!(cli.log_format, LogFormat::Text));
    }

    #[test]
    fn root_options_after_the_process_arguments_belong_to_the_process() {
        let cli = parsed("rt exec x sh --debug --root /b");
        assert!(!cli.debug);
        assert_eq!(cli.root, None);
        let Cmd::Exec(a) = cli.cmd else {
            panic!("not exec")
        };
        assert_eq!(a.command, ["sh", "--debug", "--root", "/b"]);
    }

    #[test]
    fn root_options_stay_off_the_other_commands() {
        let mut command = Cli::command();
        let args: Vec<String> = "rt --root /a run --debug x"
            .split(' ')
            .map(String::from)
            .collect();
        parse(&mut command, &args).expect("parses");
        for sub in command.get_subcommands() {
            let copies = sub
                .get_arguments()
                .filter(|a| a.get_id() == "debug")
                .count();
            assert_eq!(
                copies,
                usize::from(sub.get_name() == "run"),
                "{}",
                sub.get_name()
            );
        }
    }
}
