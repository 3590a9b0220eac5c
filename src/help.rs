//! `-h`, `--help` and `rt help [command]`, laid out as runc's command line
//! library prints them (`NAME:` first, then `USAGE:`, `OPTIONS:`, ...):
//! scripts and runc's own tests read that layout. clap still parses; the
//! text is rendered from the same clap definitions, so it cannot drift
//! from what is parsed.

use clap::{Arg, ArgAction, Command};

/// The name line's description, and the one-line summary of rt.
const ABOUT: &str = "Open Container Initiative runtime";

const DESCRIPTION: &str = "\
rt runs containers from OCI bundles (a config.json and a root filesystem) and
takes runc's command line, so containerd, Docker, Podman and Kubernetes can use
it in runc's place.

    # rt run [ -b bundle ] <container-id>

creates and starts a container from the bundle (default: the current
directory); create, start, kill and delete do the same in steps.";

/// What the command line asks for, as far as help is concerned.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// `rt help`, `rt -h`: the list of commands.
    Main,
    /// `rt help create`, `rt create -h`.
    Command(String),
}

/// Where the command is named: the first argument after argv[0] that is
/// neither a global option nor the value of one.
pub fn command_index(cli: &Command, args: &[String]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            return (i + 1 < args.len()).then_some(i + 1);
        }
        if !a.starts_with('-') || a == "-" {
            return Some(i);
        }
        let takes_value = !a.contains('=') && global_takes_value(cli, a);
        i += if takes_value { 2 } else { 1 };
    }
    None
}

fn global_takes_value(cli: &Command, flag: &str) -> bool {
    let name = flag.trim_start_matches('-');
    cli.get_arguments().any(|arg| {
        let named = arg.get_long() == Some(name)
            || (flag.len() == 2 && arg.get_short().map(String::from).as_deref() == Some(name));
        named && arg.get_action().takes_values()
    })
}

/// `rt help [topic]` and `rt h [topic]` (runc's help command and its
/// alias), found before clap parses: clap's own help command is off.
pub fn help_command(cli: &Command, args: &[String]) -> Option<Request> {
    let i = command_index(cli, args)?;
    if args[i] != "help" && args[i] != "h" {
        return None;
    }
    Some(match args.get(i + 1) {
        Some(topic) => Request::Command(topic.clone()),
        None => Request::Main,
    })
}

/// For a help flag clap saw: help of the command it was given to.
pub fn flag_request(cli: &Command, args: &[String]) -> Request {
    let Some(i) = command_index(cli, args) else {
        return Request::Main;
    };
    // A help flag before the command name is the main help's.
    let flag_first = args[1..i].iter().any(|a| a == "-h" || a == "--help");
    if flag_first {
        Request::Main
    } else {
        Request::Command(args[i].clone())
    }
}

/// The command a usage error names, if it is not one of rt's.
pub fn unknown_command(cli: &Command, args: &[String]) -> Option<String> {
    let i = command_index(cli, args)?;
    let name = &args[i];
    cli.find_subcommand(name).is_none().then(|| name.clone())
}

/// The help text, or Err with runc's message for an unknown topic.
pub fn render(cli: &Command, req: &Request, version: &str) -> Result<String, String> {
    match req {
        Request::Main => Ok(main_help(cli, version)),
        Request::Command(name) => cli
            .find_subcommand(name)
            .map(|sub| command_help(cli, sub))
            .ok_or_else(|| no_topic(name)),
    }
}

/// runc's words for a command it does not have (scripts match them).
pub fn no_topic(name: &str) -> String {
    format!("No help topic for '{name}'")
}

fn about(cmd: &Command) -> String {
    cmd.get_about()
        .map(|a| a.to_string().trim_end_matches('.').to_string())
        .unwrap_or_default()
}

fn main_help(cli: &Command, version: &str) -> String {
    let name = cli.get_name();
    // The version lines without the first one's "rt version ".
    let version = version.split_once(" version ").map_or(version, |(_, v)| v);
    let mut out = format!(
        "NAME:\n   {name} - {ABOUT}\n\n{DESCRIPTION}\n\nUSAGE:\n   {name} [global options] command [command options] [arguments...]\n\nVERSION:\n   {}\n\nCOMMANDS:\n",
        version.lines().collect::<Vec<_>>().join("\n   ")
    );
    let mut rows: Vec<(String, String)> = cli
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| (s.get_name().to_string(), about(s)))
        .collect();
    rows.push((
        "help, h".into(),
        "Show the commands, or the help of one command".into(),
    ));
    out.push_str(&table(&rows));
    out.push_str("\nGLOBAL OPTIONS:\n");
    let mut flags: Vec<(String, String)> = cli
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .map(flag_row)
        .collect();
    flags.push(("--help, -h".into(), "show help".into()));
    out.push_str(&table(&flags));
    out
}

fn command_help(cli: &Command, sub: &Command) -> String {
    let (app, name) = (cli.get_name(), sub.get_name());
    // rt's commands add their arguments when built (`Cmd` in main.rs
    // defers them); building also adds clap's own help flag, which the
    // help does not list (runc's layout has its own line for it).
    let mut built = sub.clone();
    built.build();
    let own = || {
        built.get_arguments().filter(|a| {
            !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong
            )
        })
    };
    let positionals: Vec<String> = own()
        .filter(|a| a.is_positional())
        .map(positional_usage)
        .collect();
    let flags: Vec<(String, String)> = own()
        .filter(|a| !a.is_positional() && !a.is_hide_set() && !a.is_global_set())
        .map(flag_row)
        .collect();
    let options = if flags.is_empty() {
        ""
    } else {
        " [command options]"
    };
    let usage = format!("{app} {name}{options} {}", positionals.join(" "));
    let mut out = format!(
        "NAME:\n   {app} {name} - {}\n\nUSAGE:\n   {}\n",
        about(sub),
        usage.trim_end()
    );
    if let Some(long) = sub.get_long_about() {
        out.push_str(&format!("\nDESCRIPTION:\n   {long}\n"));
    }
    if !flags.is_empty() {
        out.push_str("\nOPTIONS:\n");
        out.push_str(&table(&flags));
    }
    out
}

/// `<container-id>` for a required argument, `[signal]` for an optional
/// one, `[command...]` for the rest of the line.
fn positional_usage(arg: &Arg) -> String {
    let name = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| arg.get_id().to_string())
        .to_lowercase()
        .replace('_', "-");
    let many = matches!(arg.get_action(), ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    let dots = if many { "..." } else { "" };
    if arg.is_required_set() {
        format!("<{name}>{dots}")
    } else {
        format!("[{name}{dots}]")
    }
}

/// `--bundle value, -b value` and its help, with the default as runc shows it.
fn flag_row(arg: &Arg) -> (String, String) {
    let value = if arg.get_action().takes_values() {
        " value"
    } else {
        ""
    };
    let mut names = Vec::new();
    if let Some(long) = arg.get_long() {
        names.push(format!("--{long}{value}"));
    }
    if let Some(short) = arg.get_short() {
        names.push(format!("-{short}{value}"));
    }
    let mut help = arg
        .get_help()
        .map(|h| h.to_string().trim_end_matches('.').to_string())
        .unwrap_or_default();
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    if value.is_empty() || defaults.is_empty() {
        return (names.join(", "), help);
    }
    if !help.is_empty() {
        help.push(' ');
    }
    help.push_str(&format!("(default: {:?})", defaults.join(",")));
    (names.join(", "), help)
}

/// Two columns, the first padded to its widest entry plus two spaces.
fn table(rows: &[(String, String)]) -> String {
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(l, r)| format!("   {l:<width$}  {r}").trim_end().to_string() + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> Command {
        Command::new("rt")
            .arg(Arg::new("root").long("root").global(true))
            .arg(
                Arg::new("debug")
                    .long("debug")
                    .action(ArgAction::SetTrue)
                    .global(true),
            )
            .subcommand(
                Command::new("kill")
                    .about("Send a signal.")
                    .arg(
                        Arg::new("all")
                            .short('a')
                            .long("all")
                            .action(ArgAction::SetTrue),
                    )
                    .arg(Arg::new("id").value_name("container-id").required(true))
                    .arg(Arg::new("signal").default_value("SIGTERM")),
            )
    }

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    #[test]
    fn the_command_is_found_past_global_options_and_their_values() {
        let c = cli();
        assert_eq!(
            help_command(&c, &args("rt --root /x --debug help kill")),
            Some(Request::Command("kill".into()))
        );
        assert_eq!(
            help_command(&c, &args("rt --root=/x h")),
            Some(Request::Main)
        );
        // "help" as the value of --root is no command.
        assert_eq!(help_command(&c, &args("rt --root help kill x")), None);
        assert_eq!(
            flag_request(&c, &args("rt --debug kill -h")),
            Request::Command("kill".into())
        );
        assert_eq!(flag_request(&c, &args("rt -h kill")), Request::Main);
        assert_eq!(
            unknown_command(&c, &args("rt --root /x foo -h")).as_deref(),
            Some("foo")
        );
        assert_eq!(unknown_command(&c, &args("rt kill -h")), None);
    }

    #[test]
    fn command_help_in_runcs_layout() {
        let c = cli();
        let text = render(&c, &Request::Command("kill".into()), "").unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME:");
        assert_eq!(lines[1], "   rt kill - Send a signal");
        assert_eq!(
            lines[4],
            "   rt kill [command options] <container-id> [signal]"
        );
        assert!(text.contains("\nOPTIONS:\n   --all, -a\n"), "{text}");
        assert_eq!(
            render(&c, &Request::Command("foo".into()), ""),
            Err("No help topic for 'foo'".into())
        );
    }
}
